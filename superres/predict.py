"""Apply a trained model to whole files, in chunks, in bounded memory.

The input is read block by block (resampled to 22.05 kHz on the fly when it has another rate), each block is
naive-upsampled, cut into the model's windows, bit-encoded and run through the network, and the output is
written block by block. Blocks hold a whole number of windows and windows do not overlap, so the result is
identical to processing the file in one piece. The output has exactly twice the 22.05 kHz frames, the input's
channels (each one its own stream) and 16-bit samples rounded and clipped, never wrapped.
"""

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .audio import (FACTOR, HIGH_RATE, LOW_RATE, READ_EXTENSIONS, audio_info, list_audio_files,
                    open_atomic_writer, to_int16)
from .encoding import int16_to_bits, make_windows
from .errors import UserError
from .manifest import FORMAT_VERSION, MANIFEST_NAME, read_manifest, write_json_atomic
from .scan import load_scan
from .runs import load_config

#: Output sample formats offered to the user, by libsndfile subtype.
SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}


def load_model(model_dir, which="best"):
    """Load a model folder's network for inference.

    Parameters
    ----------
    model_dir : path-like
    which : {"best", "last"}
        ``best`` falls back to ``last`` when no validation loss was recorded.

    Returns
    -------
    model : keras.Model
    config : dict
    """
    import keras

    model_dir = Path(model_dir)
    config = load_config(model_dir)
    path = model_dir / f"{which}.keras"
    if which == "best" and not path.is_file():
        path = model_dir / "last.keras"
    if not path.is_file():
        raise UserError(f"{model_dir}: holds no trained weights ({which}.keras); train it first")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise UserError(f"{path}: cannot be loaded ({str(e).splitlines()[0][:200]}); retrain the model")
    return model, config


def low_rate_blocks(path, block):
    """Yield the file's audio as int16 blocks at 22.05 kHz, reading (and resampling) block by block.

    Parameters
    ----------
    path : path-like
    block : int
        Frames per yielded block (22.05 kHz); only the last block is shorter.

    Yields
    ------
    ndarray of int16, shape (<= block, channels)
        ``ceil(frames * 22050 / rate)`` frames in all.
    """
    info = audio_info(path)
    total = -(-info.frames * LOW_RATE // info.samplerate)
    stream = None if info.samplerate == LOW_RATE else soxr.ResampleStream(
        info.samplerate, LOW_RATE, info.channels, dtype="float64", quality="VHQ")
    pending = np.zeros((0, info.channels))
    emitted = read = 0
    with sf.SoundFile(str(path)) as f:
        while read < info.frames:
            x = f.read(min(block, info.frames - read), dtype="float64", always_2d=True)
            if x.shape[0] == 0:
                raise UserError(f"{path}: ends after {read} of {info.frames} frames; the file is truncated")
            read += x.shape[0]
            if stream is not None:
                x = stream.resample_chunk(x, last=read >= info.frames)
            pending = np.concatenate([pending, x])
            # The resampler may deliver a few frames more than the exact ratio: never emit past ``total``.
            while pending.shape[0] >= block and emitted < total:
                n = min(block, total - emitted)
                yield to_int16(pending[:n])
                emitted += n
                pending = pending[n:]
    # What is left, zero-padded if the resampler came up a few frames short.
    rest = np.zeros((total - emitted, info.channels))
    m = min(rest.shape[0], pending.shape[0])
    rest[:m] = pending[:m]
    for i in range(0, rest.shape[0], block):
        yield to_int16(rest[i:i + block])


def predict_array(model, x_low, window, batch_size=1024):
    """Run the network on a block of 22.05 kHz audio.

    Parameters
    ----------
    model : keras.Model
    x_low : ndarray of int16, shape (n, channels)
    window : int
        The model's window length (44.1 kHz steps); must be even.

    Returns
    -------
    ndarray of int16, shape (n * 2, channels)
    """
    n, channels = x_low.shape
    up = np.repeat(x_low, FACTOR, axis=0)
    # One batch for all channels: (channels * windows, window, 16).
    wins = np.concatenate([make_windows(up[:, c], window, window) for c in range(channels)])
    k = wins.shape[0] // channels
    y = model.predict(int16_to_bits(wins).astype(np.float32), batch_size=batch_size, verbose=0)
    y = y.reshape(channels, k * window)[:, :n * FACTOR].T
    return to_int16(y)


def predict_file(model, config, in_path, out_path, batch_size=1024, chunk_seconds=10.0, subtype="PCM_16",
                 progress=None):
    """Upsample one file to 44.1 kHz with the network and write it atomically.

    Parameters
    ----------
    model, config
        From :func:`load_model`.
    in_path, out_path : path-like
    chunk_seconds : float
        Audio processed per step; bounds memory (about 5 MB per channel and second of 22.05 kHz audio).
    progress : callable, optional
        Called with seconds of audio done after each block.

    Returns
    -------
    dict
        A manifest entry: input, output, rates, frames, channels.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if out_path.resolve() == in_path.resolve():
        raise UserError(f"{out_path}: output path equals the input path; choose another output folder")
    info = audio_info(in_path)
    if info.frames == 0:
        raise UserError(f"{in_path}: contains no audio frames; nothing to upsample")
    half = config["window"] // FACTOR
    block = max(1, int(chunk_seconds * LOW_RATE) // half) * half
    frames_low = 0
    with open_atomic_writer(out_path, HIGH_RATE, info.channels, subtype) as out:
        for x in low_rate_blocks(in_path, block):
            out.write(predict_array(model, x, config["window"], batch_size))
            frames_low += x.shape[0]
            if progress:
                progress(x.shape[0] / LOW_RATE)
    return {"input": str(in_path), "output": out_path.name, "input_rate": info.samplerate,
            "channels": info.channels, "frames_low": frames_low, "frames_out": frames_low * FACTOR,
            "subtype": subtype}


def resolve_inputs(inputs, config):
    """Turn the user's file and folder arguments into (input path, relative output path) pairs.

    With no inputs, the 22.05 kHz songs of the model's scan folder are used.
    """
    pairs = []
    if not inputs:
        scan_dir = Path(config["scan_dir"])
        scan = load_scan(scan_dir)
        return [(scan_dir / e["output"], Path(e["output"])) for e in scan["files"]]
    for item in map(Path, inputs):
        if item.is_dir():
            pairs += [(item / rel, rel.with_suffix(".wav")) for rel in list_audio_files(item, READ_EXTENSIONS)]
        elif item.is_file() or not item.exists():
            pairs.append((item, Path(item.name).with_suffix(".wav")))
    return pairs


def predict_paths(model_dir, inputs, out_dir, batch_size=1024, chunk_seconds=10.0, subtype="PCM_16",
                  which="best", log=print, show_progress=True):
    """Upsample files and folders with a trained model; write ``out_dir/manifest.json``.

    Returns
    -------
    list of (path, message)
        The inputs that failed, with the reason; the other files are written.
    """
    from tqdm import tqdm

    model, config = load_model(model_dir, which)
    out_dir = Path(out_dir)
    pairs = resolve_inputs(inputs, config)
    if not pairs:
        raise UserError(f"no audio files found in {', '.join(map(str, inputs))}")
    manifest_path = out_dir / MANIFEST_NAME
    files = {}
    if manifest_path.is_file():
        old = read_manifest(out_dir, "predict")
        if old.get("model_dir") == str(Path(model_dir).resolve()):
            files = {e["output"]: e for e in old["files"]}
    failures = []
    for src, rel in pairs:
        dst = out_dir / rel
        try:
            seconds = audio_info(src).duration
            with tqdm(total=seconds, unit="s", desc=str(rel), disable=not show_progress,
                      bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}]") as bar:
                entry = predict_file(model, config, src, dst, batch_size, chunk_seconds, subtype,
                                     progress=bar.update)
            entry["output"] = rel.as_posix()
            files[entry["output"]] = entry
            log(f"wrote {dst}")
        except UserError as e:
            failures.append((src, str(e)))
            log(f"error: {e}")
        except OSError as e:
            failures.append((src, f"{dst}: cannot write ({e.strerror or e}); check the output folder"))
            log(f"error: {failures[-1][1]}")
    write_json_atomic(manifest_path, {
        "stage": "predict",
        "format_version": FORMAT_VERSION,
        "model_dir": str(Path(model_dir).resolve()),
        "weights": which,
        "model": {k: config[k] for k in ("arch", "units", "dense", "dense2", "window")},
        "rate": HIGH_RATE,
        "files": [files[k] for k in sorted(files)],
    })
    return failures
