"""Restore what is missing from one file, in chunks, in bounded memory: :func:`predict_file`.

The input is read block by block (resampled on the fly to the network's input rate where the file has another
one), its real bandwidth measured first; below it the output is the input itself, above it the band the network
generates (:class:`superres.predictor.Predictor`), joined over a short crossfade (:mod:`superres.splice`). The
output has exactly the input's duration at the output rate and the input's channels, is written block by block
in a thread, atomically, and quantized only at the end, for the output format (:func:`superres.audio.quantize`).
Folders of files, with their manifest, are :func:`superres.batch.predict_paths`.
"""

from pathlib import Path

import numpy as np

from .audio import (HIGH_RATE, LOSSY_SUBTYPES, audio_info, clipped_samples, decoded_once, exact_blocks, high_frames,
                    one_behind, open_atomic_writer, prefetch, quantize, read_blocks, resample_blocks, to_float)
from .bandplan import MIN_CUTOFF_HZ
from .bandwidth import SpectrumStream
from .errors import UserError
from .manifest import resolved
from .splice import CEILING, splice_blocks, splice_parts


#: Output sample format by the input's (``--subtype same``): its bit depth, 32-bit float for float and 32-bit
#: integer inputs, 16-bit for 8-bit ones.
SAME_SUBTYPE = {"PCM_24": "PCM_24", "PCM_32": "FLOAT", "FLOAT": "FLOAT", "DOUBLE": "FLOAT"}
#: Sample formats whose every sample a 16-bit reading keeps exactly (see :func:`_predict_file`).
INT16_EXACT = {"PCM_S8", "PCM_U8", "PCM_16"}
#: An input at the model's rate whose band reaches this share of its Nyquist frequency is the network's own case
#: (a resampler's roll-off ends its band a little below 11.025 kHz at 22.05 kHz).
NATIVE_FRACTION = 0.9


def same_subtype(info, out_path=None):
    """The output sample format that keeps the precision of a file with ``info`` (see :data:`SAME_SUBTYPE`); a
    FLAC output, which holds no float, gets 24 bits for a float input.

    A decoded lossy file (MP3, AAC, Opus, Vorbis, WMA) is the decoder's float samples, peaks past full scale
    included: it is written as float too. Rounding it to 16 bits would add noise to its quiet passages and
    clip its peaks; 16 bits is ``--subtype 16``."""
    lossy = getattr(info, "lossy", False) or info.subtype in LOSSY_SUBTYPES
    subtype = "FLOAT" if lossy else SAME_SUBTYPE.get(info.subtype, "PCM_16")
    if subtype == "FLOAT" and out_path is not None and Path(out_path).suffix.lower() == ".flac":
        return "PCM_24"
    return subtype


def output_rate(rate_in, rate=None):
    """The output's sample rate: ``rate`` if given, else 44.1 kHz for inputs up to it and the input's own above
    (a 48 kHz soundtrack stays at 48 kHz): real content is never downsampled unasked."""
    return int(rate) if rate else max(HIGH_RATE, int(rate_in))


def measure_bandwidth(path, info, cutoff="auto", block=1 << 18):
    """The real bandwidth of a file (:func:`superres.bandwidth.detect_bandwidth`), or the one ``cutoff`` Hz names."""
    from .bandwidth import FULL_BAND_HZ, Bandwidth, detect_bandwidth

    if cutoff not in (None, "auto"):
        cutoff = min(float(cutoff), info.samplerate / 2)
        return Bandwidth(cutoff, info.samplerate, 0.0, cutoff >= FULL_BAND_HZ)
    # Read (decoded) in a thread while the spectra of the blocks before are computed.
    return detect_bandwidth(prefetch(read_blocks(path, info.samplerate, block, "float64")), info.samplerate,
                            info.channels)


def predict_file(predictor, in_path, out_path, chunk_seconds=10.0, subtype=None, progress=None, log=None,
                 gain_db=0.0, cutoff="auto", rate=None):
    """Restore what is missing from one file and write it atomically, in bounded memory.

    The file's real bandwidth is measured first (or given as ``cutoff``). Below it the output is the input
    itself (resampled to the output rate where that differs, in float: nothing is rounded on the way); above it
    the band the network generates, joined over a short crossfade (:mod:`superres.splice`). A file with
    nothing missing is written as it is. An input at the model's rate (22.05 kHz, or the rate of the scan a
    BiLSTM was trained on) whose band reaches its Nyquist frequency is the network's own case: its output is
    written as computed (a ``gen`` or ``sbr`` model keeps the sinc interpolation of the input below 11 kHz
    itself; the blog's BiLSTM rewrites the whole waveform, as the blog did).

    Parameters
    ----------
    predictor : Predictor
    in_path, out_path : path-like
    chunk_seconds : float
        Audio read and processed per step; bounds memory (about 10 MB per channel and second of audio).
    subtype : str, optional
        libsndfile subtype of the output; default: the input's precision (:func:`same_subtype`).
    progress : callable, optional
        Called with seconds of audio done after each block.
    gain_db : float
        Gain applied to the output before it is quantized, dB (``--gain``): a negative gain keeps the headroom
        that the restored top band may need above a loud input's peaks.
    cutoff : "auto" or float
        The frequency above which the band is restored, Hz (``--cutoff``); ``auto`` measures it.
    rate : int, optional
        The output's sample rate (:func:`output_rate`).

    Returns
    -------
    dict
        A manifest entry: input, output, rates, frames, channels, the bandwidth found and what was done with
        it, ``clipped`` (output samples clipped at full scale) and ``peak_dbfs`` (the output's peak before
        clipping, dB relative to full scale).
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if resolved(out_path) == resolved(in_path):
        raise UserError(f"{out_path}: output path equals the input path; choose another output folder")
    # A compressed file is decoded once, beside the output, its bandwidth measured on the way, and read from
    # there by the prediction.
    head = audio_info(in_path, count=False)
    spectrum = SpectrumStream(head.samplerate, head.channels) if cutoff in (None, "auto") else None
    with decoded_once(in_path, out_path, spectrum.push if spectrum else None) as (source, info, watched):
        bw = spectrum.bandwidth() if watched and spectrum else measure_bandwidth(source, info, cutoff)
        return _predict_file(predictor, in_path, source, info, bw, out_path, chunk_seconds, subtype, progress, log,
                             gain_db, cutoff, rate)


def _predict_file(predictor, in_path, source, info, bw, out_path, chunk_seconds, subtype, progress, log, gain_db,
                  cutoff, rate):
    """:func:`predict_file` of ``in_path`` (named in messages and the manifest), its audio read from ``source``
    (itself, or its decoded copy), ``info`` its own, ``bw`` its bandwidth."""
    if info.frames == 0:
        raise UserError(f"{in_path}: contains no audio frames; nothing to upsample")
    rate_in, channels = int(info.samplerate), int(info.channels)
    rate_out = output_rate(rate_in, rate)
    subtype = subtype or same_subtype(info, out_path)
    # A network told the cutoff reads the file at its own rate, in float; the others at theirs, in 16 bits.
    rate_net = predictor.rate or rate_in
    dtype = "float64" if predictor.any_cutoff else "int16"
    block = max(1, int(chunk_seconds * rate_net))
    # Whether the network reads the file's own samples: its stream's sinc interpolation is then the real band. A
    # 16-bit reading of a 24-bit, float or lossy file (``gen``'s) rounds it, and clips its peaks past full scale.
    exact = dtype == "float64" or (info.subtype in INT16_EXACT and not getattr(info, "lossy", False))
    total = -(-info.frames * rate_out // rate_in)
    counts = {"frames": 0, "clipped": 0, "peak": 0, "out_clipped": 0, "out_peak": 0.0}
    gain = 10.0 ** (gain_db / 20.0)
    # What this file gets: written as it is, the network's output as it is (its own case), or the real band
    # below the cutoff and the generated one above.
    native = (not predictor.any_cutoff and rate_in == rate_net and rate_out == HIGH_RATE
              and bw.cutoff >= NATIVE_FRACTION * rate_net / 2)
    mode = "unchanged" if bw.full_band else "network" if native else "spliced"
    if log:
        restoring = ("nothing to restore, written as it is" if mode == "unchanged" else
                     f"restoring {bw.cutoff / 1000:.1f}-{rate_out / 2000:.2f} kHz")
        log(f"{in_path.name}: {bw.describe()}; {restoring}" + (f", at {rate_out / 1000:g} kHz"
                                                                 if rate_out != rate_in else ""))
        lowest = MIN_CUTOFF_HZ if predictor.any_cutoff else rate_net / 2 * NATIVE_FRACTION
        if mode == "spliced" and bw.cutoff < lowest:
            top = MIN_CUTOFF_HZ if predictor.any_cutoff else rate_net / 2
            log(f"note  {in_path}: this model restores from {top / 1000:.1f} kHz up, from the band below it; "
                f"{bw.cutoff / 1000:.1f}-{top / 1000:.1f} kHz stays as empty as the input left it")

    def write(y):
        if gain != 1.0:
            y = y * gain
        counts["out_clipped"] += clipped_samples(y, subtype)
        counts["out_peak"] = max(counts["out_peak"], float(np.abs(y).max(initial=0.0)))
        out.write(quantize(y, subtype))

    def inputs():
        for x in read_blocks(source, rate_net, block, dtype):
            yield x
            xf = x if dtype == "float64" else to_float(x)
            counts["frames"] += x.shape[0]
            counts["clipped"] += int(np.count_nonzero((xf >= 32767 / 32768) | (xf <= -1.0)))
            counts["peak"] = max(counts["peak"], int(np.abs(xf).max(initial=0.0) * 32768))
            if progress and mode != "unchanged":
                progress(x.shape[0] / rate_net)

    def real():
        for x in read_blocks(source, rate_out, block, "float64"):
            if mode == "unchanged":
                counts["peak"] = max(counts["peak"], int(np.abs(x).max(initial=0.0) * 32768))
                if progress:
                    progress(x.shape[0] / rate_out)
            yield x

    # What the network adds never takes a sample past full scale (after --gain), where the real band is not.
    ceiling = CEILING / gain
    parts = None
    if mode == "unchanged":
        outputs = real()
    elif mode == "network":
        outputs = predictor.blocks(inputs(), channels, ceiling=ceiling)
    elif predictor.adds_band and exact and rate_net == rate_in and rate_out == HIGH_RATE:
        # The stream's own sinc interpolation of the file is the real band at the output's rate: spliced to the
        # band it adds, with no second reading and resampling of the file.
        parts = prefetch(predictor.blocks(inputs(), channels, rate_net, bw.cutoff, parts=True))
        outputs = splice_parts(parts, rate_out, bw.cutoff, channels, total, ceiling)
    else:
        generated = predictor.blocks(inputs(), channels, rate_net, bw.cutoff)
        if rate_out != HIGH_RATE:
            n44 = high_frames(-(-info.frames * rate_net // rate_in), rate_net)
            generated = resample_blocks(generated, HIGH_RATE, rate_out, channels, n44, block, "float64")
        outputs = splice_blocks(exact_blocks(real(), 0, total, block), exact_blocks(generated, 0, total, block),
                                rate_out, bw.cutoff, channels, total, ceiling)
    try:
        with open_atomic_writer(out_path, rate_out, channels, subtype) as out, one_behind(write) as writer:
            # Each block is quantized and written in a thread (numpy and libsndfile release the GIL) while the next
            # one is read and computed; at most two blocks wait, in order, and a write error stops the loop.
            for y in outputs:
                writer(y)
    finally:
        if parts is not None:
            # After an error, its thread stops here (and lets go of the file it reads), not whenever the
            # error's frames, in a cycle with the writer's future, are collected.
            parts.close()
    clipped, peak = counts["clipped"], counts["peak"]
    if log and clipped:
        log(f"note  {in_path}: {clipped} sample(s) at full scale (clipped input); the clipping's distortion "
            "is part of the input the network sees")
    if log and peak == 0:
        log(f"note  {in_path}: the audio is all silence; the output is the network's response to silence"
            if mode != "unchanged" else f"note  {in_path}: the audio is all silence")
    out_clipped = counts["out_clipped"]
    peak_dbfs = 20 * np.log10(counts["out_peak"]) if counts["out_peak"] > 0 else -np.inf
    # The gain that brings the peak just under full scale, rounded down to 0.1 dB.
    keep = gain_db - np.ceil(peak_dbfs * 10) / 10 if np.isfinite(peak_dbfs) else gain_db
    if log and out_clipped:
        samples = total * channels
        log(f"note  {out_path}: {out_clipped} of {samples} output samples ({100 * out_clipped / samples:.2g}%) "
            f"clipped at full scale (peak {peak_dbfs:+.1f} dBFS before clipping); --gain {keep:.1f} or "
            "--subtype float keeps them")
    elif log and peak_dbfs > 0:
        log(f"note  {out_path}: peak {peak_dbfs:+.1f} dBFS, kept past full scale in the float output (as the "
            f"input has it); a player may clip it, --gain {keep:.1f} brings it under")
    return {"input": str(in_path), "output": out_path.name, "input_rate": rate_in, "rate": rate_out,
            "channels": channels, "frames_in": int(info.frames), "frames_out": int(total), "subtype": subtype,
            "hop": predictor.hop, "cutoff_hz": round(float(bw.cutoff), 1), "cutoff_given": cutoff not in
            (None, "auto"), "wall_db": round(float(bw.wall_db), 1), "done": mode, "gain_db": gain_db,
            "clipped": out_clipped, "peak_dbfs": round(float(peak_dbfs), 2) if np.isfinite(peak_dbfs) else None}
