"""The Python API: upsample numpy arrays or files in a notebook or a program, on the command line's code path.

>>> import soundfile as sf, superres
>>> audio, rate = sf.read("song_22k.wav")               # (frames, channels) float64, 22050 Hz
>>> audio_44k, rate_44k = superres.upsample(audio, rate)  # the pretrained default model
>>> superres.upsample_file("song_22k.flac", "song_44k.wav", model="models/my-run")

Both go through what ``superres predict`` runs (:func:`superres.predict.predict_file`): the same bandwidth
measure, the input kept below it and the generated band above, the same rounding and clipping.
"""

from pathlib import Path

import numpy as np

from .audio import MAX_RATE, MIN_RATE, SUBTYPES, output_format
from .cli import MAX_SECONDS
from .errors import UserError, check_finite

#: Loaded models, by (folder, weights, runtime, overlap, batch): a loop over many arrays loads each once.
_LOADED = {}


def load_predictor(model=None, weights="best", runtime="auto", overlap=None, batch_size=None):
    """A network ready to upsample (:class:`superres.predictor.Predictor`), loaded once and kept.

    Parameters
    ----------
    model : path-like, ModelFolder or Predictor, optional
        A model folder (its path, or read already: :class:`superres.runs.ModelFolder`), or a predictor from an
        earlier call (returned as it is). Default: the pretrained
        default model (:func:`superres.runs.default_model_dir`).
    weights : {"best", "last"}
    runtime : {"auto", "keras", "onnx", "onnx-int8"}
        ``auto``: ONNX Runtime for ``gen`` models (no TensorFlow import), Keras for the others.
    overlap, batch_size : int, optional
        As ``--overlap`` and ``--inference-batch``.
    """
    from .predictor import Predictor, open_predictor
    from .runs import ModelFolder, default_model_dir

    if isinstance(model, Predictor):
        return model
    folder = model if isinstance(model, ModelFolder) else Path(model) if model is not None else default_model_dir()
    key = (str(Path(getattr(folder, "path", folder)).resolve()), weights, runtime, overlap, batch_size)
    if key not in _LOADED:
        _LOADED[key] = open_predictor(folder, weights, runtime, overlap, batch_size)
    return _LOADED[key]


def upsample(audio, rate, model=None, *, weights="best", runtime="auto", overlap=None, batch_size=None,
             gain_db=0.0, cutoff="auto", out_rate=None):
    """Restore what is missing from audio: the band above its real bandwidth, filled in by the network.

    The same rules as ``superres predict`` (the same code: the array goes through :func:`upsample_file` by
    way of a temporary file): the array's bandwidth is measured, below it the output is the input, above it
    the band the network generates; audio with nothing missing comes back as it is.

    Parameters
    ----------
    audio : ndarray, shape (frames,) or (frames, channels)
        int16 samples, or float samples with full scale 1.0 (as ``soundfile.read`` gives them). Each channel
        is processed on its own.
    rate : int
        Sample rate of ``audio``, Hz.
    model : path-like or Predictor, optional
        See :func:`load_predictor`; default: the pretrained default model.
    weights, runtime, overlap, batch_size
        See :func:`load_predictor` (``overlap`` and ``batch_size`` as ``--overlap`` and ``--inference-batch``).
    gain_db : float
        Gain applied to the output before it is rounded and clipped, dB (as ``--gain``).
    cutoff : "auto" or float
        Hz above which the band is restored (as ``--cutoff``).
    out_rate : int, optional
        The output's rate (as ``--rate``): default 44100 for audio up to 44.1 kHz, ``rate`` above.

    Returns
    -------
    audio_out : ndarray, shape (ceil(frames * rate_out / rate),) or (..., channels)
        Same shape convention as ``audio``. int16 input gives int16 output; float input gives float32 in
        [-1, 1].
    rate_out : int
        The output's rate, Hz.
    """
    import tempfile

    import soundfile as sf

    x = np.asarray(audio)
    if x.ndim not in (1, 2) or x.shape[0] == 0 or (x.ndim == 2 and x.shape[1] == 0):
        raise UserError(f"audio must be a non-empty array of shape (frames,) or (frames, channels), not {x.shape}")
    if x.dtype != np.int16 and x.dtype.kind != "f":
        raise UserError(f"audio must be int16 or float samples, not {x.dtype}")
    check_finite(x, "audio")
    if int(rate) != rate or not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"rate must be a whole number of Hz in {MIN_RATE}-{MAX_RATE}, not {rate}")
    frames = x if x.ndim == 2 else x[:, None]
    with tempfile.TemporaryDirectory(prefix="superres-") as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        # Float audio as 64-bit float and int16 as 16-bit: exactly the samples given; the output keeps that
        # precision (float32 for float, as --subtype same writes a float input).
        sf.write(src, frames, int(rate), subtype="PCM_16" if x.dtype == np.int16 else "DOUBLE")
        upsample_file(src, dst, model, weights=weights, runtime=runtime, overlap=overlap, batch_size=batch_size,
                      gain_db=gain_db, cutoff=cutoff, rate=out_rate)
        out, rate_out = sf.read(dst, dtype="int16" if x.dtype == np.int16 else "float32", always_2d=True)
    return (out if x.ndim == 2 else out[:, 0]), int(rate_out)


def upsample_file(in_path, out_path, model=None, *, subtype="same", overwrite=False, chunk_seconds=10.0,
                  weights="best", runtime="auto", overlap=None, batch_size=None, gain_db=0.0, cutoff="auto",
                  rate=None):
    """Restore what is missing from one audio file, as ``superres predict`` does, in bounded memory.

    Parameters
    ----------
    in_path : path-like
        Any format ``superres predict`` reads, at any rate.
    out_path : path-like
        ``.wav`` or ``.flac``; written atomically.
    model : path-like or Predictor, optional
        See :func:`load_predictor`.
    subtype : {"same", "16", "24", "float"}
        Output sample format (``same``: the input's precision).
    overwrite : bool
        Replace ``out_path`` if it exists (otherwise that is an error).
    chunk_seconds : float
        Audio processed per step.
    weights, runtime, overlap, batch_size
        See :func:`load_predictor`.
    gain_db : float
        Gain applied to the output before it is written, dB (as ``--gain``).
    cutoff : "auto" or float
        Hz above which the band is restored (as ``--cutoff``).
    rate : int, optional
        The output's sample rate (as ``--rate``).

    Returns
    -------
    dict
        What was done: input, output, rates, frames, channels, the bandwidth found, output samples clipped and
        the output's peak.
    """
    from .predict import predict_file

    out_path = Path(out_path)
    if subtype != "same" and subtype not in SUBTYPES:
        raise UserError(f"subtype must be same or one of {', '.join(SUBTYPES)}, not {subtype!r}")
    # Before any work: an extension the writer cannot write ("same" is decided by the input, later).
    output_format(out_path, SUBTYPES.get(subtype, "PCM_16"))
    if (out_path.exists() or out_path.is_symlink()) and not overwrite:
        raise UserError(f"{out_path}: exists; pass overwrite=True to replace it")
    if not 0 < chunk_seconds <= MAX_SECONDS:  # also false for NaN
        raise UserError(f"chunk_seconds must be a positive number of seconds up to {MAX_SECONDS}, not {chunk_seconds}")
    _check_gain(gain_db)
    return predict_file(load_predictor(model, weights, runtime, overlap, batch_size), in_path, out_path,
                        chunk_seconds, SUBTYPES.get(subtype), gain_db=gain_db, cutoff=cutoff, rate=rate)


def _check_gain(gain_db):
    if not isinstance(gain_db, (int, float)) or not -144 <= gain_db <= 144:
        raise UserError(f"gain_db must be a number of dB between -144 and 144, not {gain_db!r}")
