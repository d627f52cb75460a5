"""The kinds of input a music folder holds, made from an original and scored against it.

One definition for the per-kind table (``tools/eval_kinds.py``, ``make eval-kinds``) and the held-out probe
training runs every epoch (:mod:`superres.probe`): how each kind is made from a 44.1 kHz original
(:func:`make_input`: resampled with soxr VHQ, or encoded with PyAV's encoders) and the figures of one output
(:func:`score_kind`).
"""

import numpy as np

#: name -> (how the input is made: ("rate", Hz) or (codec, bit rate)), file extension.
KINDS = {
    "22.05 kHz": (("rate", 22050), ".wav"),
    "16 kHz": (("rate", 16000), ".wav"),
    "15 kHz": (("rate", 15000), ".wav"),
    "32 kHz": (("rate", 32000), ".wav"),
    "MP3 128 kbps": (("mp3", 128000), ".mp3"),
    "MP3 320 kbps": (("mp3", 320000), ".mp3"),
    "AAC 128 kbps": (("aac", 128000), ".m4a"),
    "Opus 96 kbps": (("opus", 96000), ".opus"),
    "full band": (("rate", 44100), ".wav"),
}


def make_input(x, path, how):
    """Write the input of kind ``how`` (a :data:`KINDS` value's first item) made from ``x``, float (frames,
    channels) at 44.1 kHz, to ``path``."""
    import soundfile as sf
    import soxr

    from .decode import encode_audio

    kind, value = how
    if kind == "rate":
        sf.write(path, x if value == 44100 else soxr.resample(x, 44100, value, "VHQ"), value, subtype="PCM_16")
    else:
        encode_audio(path, x, 44100, kind, value)


def _fit(x, n, shift=0):
    x = x[shift:] if shift > 0 else np.pad(x, ((-shift, 0), (0, 0)))
    return x[:n] if len(x) >= n else np.pad(x, ((0, n - len(x)), (0, 0)))


def score_kind(orig, inp, out, rate_in, rate_out, cutoff, visqol=None):
    """The figures of one output against its original.

    Parameters
    ----------
    orig : ndarray, shape (frames, channels)
        The original, float, 44.1 kHz.
    inp, out : ndarray, shape (frames', channels)
        The input as decoded, at ``rate_in``, and the output, at ``rate_out``; float. A codec's delay is found
        and taken out (:func:`superres.decode.codec_lag`).
    cutoff : float
        The input's cutoff, Hz (as prediction detected it).
    visqol : float, optional
        Add ViSQOL (audio mode) on this many seconds from the middle (0: all).

    Returns
    -------
    dict
        ``energy`` (above the cutoff, dB against the original's; ``energy_input`` the input's), ``lsd`` and
        ``lsd_input`` (LSD above the cutoff of the output and of the input sinc-interpolated), ``kept`` (SNR
        below 0.95 x the cutoff against the input, dB), ``cutoff``; with ``visqol``, ``visqol`` and
        ``visqol_input``.
    """
    import soxr

    from .decode import codec_lag
    from .metrics import score_arrays, visqol as visqol_score

    n = len(orig)
    up = soxr.resample(inp, rate_in, 44100, "VHQ") if rate_in != 44100 else inp
    est = soxr.resample(out, rate_out, 44100, "VHQ") if rate_out != 44100 else out
    shift = codec_lag(orig[:, 0], up[:, 0])
    up, est = _fit(up, n, shift), _fit(est, n, shift)
    ref16, up16, est16 = (np.asarray(a) * 32768.0 for a in (orig, up, est))
    edge = min(cutoff, 22050 - 50)
    s_out = score_arrays(ref16, est16, 44100, edge=edge)
    s_in = score_arrays(ref16, up16, 44100, edge=edge)
    kept = score_arrays(up16, est16, 44100, edge=0.95 * cutoff).snr_low_band()
    row = {"cutoff": cutoff, "energy": s_out.hf_energy(), "energy_input": s_in.hf_energy(),
           "lsd": s_out.lsd_value(hf=True), "lsd_input": s_in.lsd_value(hf=True), "kept": kept}
    if visqol is not None:
        row["visqol_input"] = visqol_score(ref16, up16, 44100, visqol or None)
        row["visqol"] = visqol_score(ref16, est16, 44100, visqol or None)
    return row
