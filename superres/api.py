"""The Python API: upsample numpy arrays or files in a notebook or a program, on the command line's code path.

>>> import soundfile as sf, superres
>>> audio, rate = sf.read("song_22k.wav")               # (frames, channels) float64, 22050 Hz
>>> audio_44k, rate_44k = superres.upsample(audio, rate)  # the pretrained default model
>>> superres.upsample_file("song_22k.flac", "song_44k.wav", model="models/my-run")

Both use what ``superres predict`` uses: the same resampler for other input rates
(:func:`superres.audio.resample_blocks`), the same chunked, crossfaded network pass
(:meth:`superres.predict.Predictor.blocks`), the same rounding and clipping.
"""

from pathlib import Path

import numpy as np

from .audio import (HIGH_RATE, LOW_RATE, MAX_RATE, MIN_RATE, SUBTYPES, check_finite, output_format, quantize,
                    resample_blocks, to_float)
from .cli import MAX_SECONDS
from .errors import UserError

#: Loaded models, by (folder, weights, runtime, overlap, batch): a loop over many arrays loads each once.
_LOADED = {}

#: Frames per step through the resampler and the network, at 22.05 kHz (as the command line's 10 s chunks).
_BLOCK = 10 * LOW_RATE


def load_predictor(model=None, weights="best", runtime="auto", overlap=None, batch_size=None):
    """A network ready to upsample (:class:`superres.predict.Predictor`), loaded once and kept.

    Parameters
    ----------
    model : path-like or Predictor, optional
        A model folder, or a predictor from an earlier call (returned as it is). Default: the pretrained
        default model (:func:`superres.predict.default_model_dir`).
    weights : {"best", "last"}
    runtime : {"auto", "keras", "onnx", "onnx-int8"}
        ``auto``: ONNX Runtime for ``gen`` models (no TensorFlow import), Keras for the others.
    overlap, batch_size : int, optional
        As ``--overlap`` and ``--inference-batch``.
    """
    from .predict import Predictor, default_model_dir, open_predictor

    if isinstance(model, Predictor):
        return model
    folder = Path(model) if model is not None else default_model_dir()
    key = (str(folder.resolve()), weights, runtime, overlap, batch_size)
    if key not in _LOADED:
        _LOADED[key] = open_predictor(folder, weights, runtime, overlap, batch_size)
    return _LOADED[key]


def upsample(audio, rate, model=None, *, weights="best", runtime="auto", overlap=None, batch_size=None,
             gain_db=0.0):
    """Upsample audio to 44.1 kHz with the network filling in 11.025-22.05 kHz.

    Parameters
    ----------
    audio : ndarray, shape (frames,) or (frames, channels)
        int16 samples, or float samples with full scale 1.0 (as ``soundfile.read`` gives them). Each channel
        is processed on its own.
    rate : int
        Sample rate of ``audio``, Hz; anything other than 22050 is resampled to 22050 first (soxr VHQ).
    model : path-like or Predictor, optional
        See :func:`load_predictor`; default: the pretrained default model.
    weights, runtime, overlap, batch_size
        See :func:`load_predictor` (``overlap`` and ``batch_size`` as ``--overlap`` and ``--inference-batch``).
    gain_db : float
        Gain applied to the output before it is rounded and clipped, dB (as ``--gain``).

    Returns
    -------
    audio_44k : ndarray, shape (2 * ceil(frames * 22050 / rate),) or (..., channels)
        Same shape convention as ``audio``. int16 input gives int16 output; float input gives float32 in
        [-1, 1].
    rate : int
        44100.
    """
    x = np.asarray(audio)
    if x.ndim not in (1, 2) or x.shape[0] == 0 or (x.ndim == 2 and x.shape[1] == 0):
        raise UserError(f"audio must be a non-empty array of shape (frames,) or (frames, channels), not {x.shape}")
    if x.dtype != np.int16 and x.dtype.kind != "f":
        raise UserError(f"audio must be int16 or float samples, not {x.dtype}")
    check_finite(x, "audio")
    if int(rate) != rate or not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"rate must be a whole number of Hz in {MIN_RATE}-{MAX_RATE}, not {rate}")
    frames = x if x.ndim == 2 else x[:, None]
    as_float = to_float(frames) if frames.dtype == np.int16 else frames.astype(np.float64)
    _check_gain(gain_db)
    predictor = load_predictor(model, weights, runtime, overlap, batch_size)
    blocks = (as_float[i:i + _BLOCK] for i in range(0, as_float.shape[0], _BLOCK))
    low = resample_blocks(blocks, int(rate), LOW_RATE, frames.shape[1], frames.shape[0], _BLOCK)
    out = np.concatenate(list(predictor.blocks(low, frames.shape[1]))) * 10.0 ** (gain_db / 20.0)
    out = quantize(out, "PCM_16" if x.dtype == np.int16 else "FLOAT")
    return (out if x.ndim == 2 else out[:, 0]), HIGH_RATE


def upsample_file(in_path, out_path, model=None, *, subtype="16", overwrite=False, chunk_seconds=10.0,
                  weights="best", runtime="auto", overlap=None, batch_size=None, gain_db=0.0):
    """Upsample one audio file to a 44.1 kHz file, as ``superres predict`` does, in bounded memory.

    Parameters
    ----------
    in_path : path-like
        WAV, FLAC or OGG at any rate (other than 22.05 kHz: resampled first).
    out_path : path-like
        ``.wav`` or ``.flac``; written atomically.
    model : path-like or Predictor, optional
        See :func:`load_predictor`.
    subtype : {"16", "24", "float"}
        Output sample format.
    overwrite : bool
        Replace ``out_path`` if it exists (otherwise that is an error).
    chunk_seconds : float
        Audio processed per step.
    weights, runtime, overlap, batch_size
        See :func:`load_predictor`.
    gain_db : float
        Gain applied to the output before it is written, dB (as ``--gain``).

    Returns
    -------
    dict
        What was done: input, output, rates, frames, channels, output samples clipped and the output's peak.
    """
    from .predict import predict_file

    out_path = Path(out_path)
    if subtype not in SUBTYPES:
        raise UserError(f"subtype must be one of {', '.join(SUBTYPES)}, not {subtype!r}")
    output_format(out_path, SUBTYPES[subtype])  # before any work: an extension the writer cannot write
    if (out_path.exists() or out_path.is_symlink()) and not overwrite:
        raise UserError(f"{out_path}: exists; pass overwrite=True to replace it")
    if not 0 < chunk_seconds <= MAX_SECONDS:  # also false for NaN
        raise UserError(f"chunk_seconds must be a positive number of seconds up to {MAX_SECONDS}, not {chunk_seconds}")
    _check_gain(gain_db)
    return predict_file(load_predictor(model, weights, runtime, overlap, batch_size), in_path, out_path,
                        chunk_seconds, SUBTYPES[subtype], gain_db=gain_db)


def _check_gain(gain_db):
    if not isinstance(gain_db, (int, float)) or not -144 <= gain_db <= 144:
        raise UserError(f"gain_db must be a number of dB between -144 and 144, not {gain_db!r}")
