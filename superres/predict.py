"""Apply a trained model to whole files, in chunks, in bounded memory.

The input is read block by block (resampled on the fly to the model's input rate, 22.05 kHz unless it was trained
on a scan at another, when the file has another rate), each block is upsampled onto the 44.1 kHz grid as the
model's dataset was (naive or sinc), cut into the model's windows (overlapping, crossfaded
by weighted overlap-add; see :class:`StreamUpsampler`) and run through the network as int16 samples (bit
decoding, where the model wants bits, happens inside the graph), and the output is written block by block.
Each window is computed on its own input, so the result is identical to processing the file in one piece.
The output has exactly :func:`superres.audio.high_frames` of the input's frames (twice them at 22.05 kHz), the
input's channels (each one its own stream) and
16-bit samples rounded and clipped, never wrapped.
"""

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import soxr

from .audio import (HIGH_RATE, READ_EXTENSIONS, audio_info, check_writable_dir, clipped_samples, exact_blocks,
                    high_frames, hold_blocks, list_audio_files, open_atomic_writer, quantize, read_blocks,
                    resample_blocks, to_float, to_int16)
from .archs import architecture, check_inference_fits
from .runtime import inference_network
from .bandplan import MIN_CUTOFF_HZ
from .dsp import overlap_add
from .errors import UserError, check_interrupted, to_stderr
from .manifest import (FORMAT_VERSION, MANIFEST_NAME, previous_manifest, relative_path, resolve_path, resolved,
                       write_json_atomic)
from .scan import DEFAULT_SCAN_DIR, load_scan
from .splice import CEILING, splice_blocks
from .runs import arch_keys, default_model_dir, input_rate, load_config, model_path


def load_model(model_dir=None, which="best"):
    """Load a model folder's network for inference.

    Parameters
    ----------
    model_dir : path-like, optional
        Default: :func:`default_model_dir`.
    which : {"best", "last"}
        ``best`` falls back to ``last`` when no validation loss was recorded.

    Returns
    -------
    model : keras.Model
    config : dict

    Raises
    ------
    UserError
        A folder without weights, weights that cannot be read, or weights that do not fit the network its
        ``config.json`` describes (another architecture or size): one line naming the folder.
    """
    import keras

    from . import models  # noqa: F401  (registers the custom layers the file refers to)

    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    config = load_config(model_dir)
    path = weights_file(model_dir, which)
    if path.suffix == ".onnx":  # a folder shipped with its export alone: the Keras network from its weights
        from .runtime import bilstm_from_onnx

        if config.get("arch") != "bilstm":
            raise UserError(f"{model_dir}: holds its ONNX export alone, which runs on --runtime onnx; Keras needs "
                            "its best.keras")
        try:
            return bilstm_from_onnx(config, path), config
        except Exception as e:
            raise UserError(f"{path}: does not hold the weights of the network config.json describes "
                            f"({str(e).splitlines()[0][:200]}); restore the folder")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        raise UserError(f"{path}: cannot be loaded ({str(e).splitlines()[0][:200]}); retrain the model")
    _check_weights(model, config, model_dir, path)
    return model, config


def weights_file(model_dir, which="best"):
    """The checkpoint ``which`` of a model folder (``best`` falls back to ``last``); UserError if none.

    A ``bilstm`` folder may ship its best weights as their ONNX export alone (``best.onnx``: models/bilstm-full,
    whose float32 weights are 13 MB, would be twice that with both): then that file is the checkpoint.
    """
    path = Path(model_dir) / f"{which}.keras"
    if which == "best" and not path.is_file():
        exported = Path(model_dir) / "best.onnx"
        path = exported if exported.is_file() and not (Path(model_dir) / "last.keras").is_file() \
            else Path(model_dir) / "last.keras"
    if not path.is_file():
        raise UserError(f"{model_dir}: holds no trained weights ({which}.keras); train it first")
    return path


def weights_stamp(path):
    """Size and modification time of a checkpoint: a retrained model gets a new one."""
    st = Path(path).stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def _check_weights(model, config, model_dir, path):
    """Refuse weights that are not those of the network ``config`` describes (an edited or mixed-up folder)."""
    from .models import build_model

    try:
        expected = build_model(config)
    except Exception as e:
        raise UserError(f"{model_dir}: config.json describes no network this version can build "
                        f"({str(e).splitlines()[0][:200]}); retrain the model")
    want = [tuple(w.shape) for w in expected.weights]
    got = [tuple(w.shape) for w in model.weights]
    if want != got or tuple(model.inputs[0].shape[1:]) != tuple(expected.inputs[0].shape[1:]):
        cfg = {k: config[k] for k in arch_keys(config["arch"]) if k in config and k != "seed"}
        raise UserError(f"{path}: these weights are not those of the network config.json describes ({cfg}); "
                        "the folder was edited or mixed up: retrain the model, or restore its config.json")


def crossfade_weights(window, ramp=None):
    """Weights of one window's samples in the overlap-add: sine ramps of ``ramp`` steps at both ends.

    ``w[i] = sin(pi/2 (i + 0.5) / ramp)`` over the first ``ramp`` steps, mirrored over the last, 1 between;
    ``ramp = window // 2`` (the default) gives ``sin(pi (i + 0.5) / window)``. Highest mid-window, where the
    network sees context on both sides, lowest (but never 0, so that the first and last samples of a file
    stay defined) at the edges.
    """
    ramp = max(1, min(ramp or window // 2, window // 2))
    w = np.ones(window)
    up = np.sin(np.pi / 2 * (np.arange(ramp) + 0.5) / ramp)
    w[:ramp], w[window - ramp:] = up, up[::-1]
    return w


class InputStream:
    """The network's input at 44.1 kHz from a stream of int16 blocks at ``rate``: naive or sinc upsampling.

    The naive stream is :func:`superres.audio.hold_blocks` (each sample repeated twice at 22.05 kHz). The sinc
    stream (soxr VHQ, the resampler of :func:`superres.audio.sinc_upsample`) gives the same samples as
    upsampling the whole signal at once, however the stream is cut, but delivers them with a delay.
    """

    def __init__(self, kind, channels, rate):
        self.rate, self.channels = rate, channels
        self.pushed = 0
        self.stream = None if kind == "naive" else soxr.ResampleStream(rate, HIGH_RATE, channels,
                                                                        dtype="float64", quality="VHQ")

    def push(self, low, last=False):
        """int16 (n, channels) -> the int16 44.1 kHz frames now available (naive: all of them)."""
        if self.stream is None:
            out = next(hold_blocks([low], self.rate, self.pushed))
            self.pushed += low.shape[0]
            return out
        return to_int16(self.stream.resample_chunk(to_float(low), last=last))


class StreamUpsampler:
    """Runs the network over a stream of low-rate blocks with overlapping windows and a crossfade.

    Windows of ``window`` 44.1 kHz steps start every ``hop`` steps from the first sample pushed; each output
    sample is the weighted mean (:func:`crossfade_weights`) of the windows covering it. Every window is
    computed on its own input alone, so the output does not depend on how the stream is cut into blocks,
    and memory is bounded by the block size, not the stream length.

    Parameters
    ----------
    model : keras.Model
        Input (batch, window) int16 (:func:`superres.models.inference_model`), output (batch, window, 1)
        float samples in [-1, 1).
    window, hop : int
        In 44.1 kHz steps; ``hop <= window``.
    channels : int
    batch_size : int
        Windows per inference call.
    input_kind : {"naive", "sinc"}
        How the network's input is upsampled (the dataset's ``input``).
    rate : int
        The rate of the blocks pushed, Hz (the model's :func:`superres.runs.input_rate`).
    """

    def __init__(self, model, window, hop, channels, batch_size=64, input_kind="naive", rate=22050):
        if not 0 < hop <= window:
            raise UserError(f"overlap must leave a hop between 1 and the window ({window}) (hop is {hop})")
        self.model, self.window, self.hop, self.batch_size = model, window, hop, batch_size
        self.weights = crossfade_weights(window, window - hop)
        self.source = InputStream(input_kind, channels, rate)
        self.rate = rate
        self.low_pushed = 0
        self.inp = np.zeros((0, channels), dtype=np.int16)  # upsampled input from global step ``next_start``
        self.acc = np.zeros((0, channels))  # weighted sums from global step ``out_pos``
        self.norm = np.zeros(0)
        self.next_start = 0  # start of the next window to compute
        self.out_pos = 0  # first output step not yet returned
        self.pushed = 0  # 44.1 kHz steps the output will have so far (high_frames of the frames pushed)

    def push(self, low):
        """Add int16 frames (n, channels) at the input rate; return the 44.1 kHz output that is final.

        The output is float64 (frames, channels), full scale 1.0, not yet rounded or clipped: the writer
        quantizes it for the output format (:func:`superres.audio.quantize`).
        """
        self.inp = np.concatenate([self.inp, self.source.push(low)])
        self.low_pushed += low.shape[0]
        self.pushed = high_frames(self.low_pushed, self.rate)
        k = 0 if self.inp.shape[0] < self.window else (self.inp.shape[0] - self.window) // self.hop + 1
        self._run(k)
        return self._emit(self.next_start)

    def finish(self):
        """Compute the last windows (zero-padded past the end) and return the rest of the output (as push)."""
        self.inp = np.concatenate([self.inp, self.source.push(np.zeros((0, self.inp.shape[1]), np.int16), True)])
        self.inp = self.inp[:max(0, self.pushed - self.next_start)]  # the resampler may give a frame too many
        covered = self.next_start - self.hop + self.window if self.next_start else 0
        # As many more windows as it takes for the last one to reach the end.
        k = 0 if covered >= self.pushed else max(0, -(-(self.pushed - self.window - self.next_start) // self.hop)) + 1
        need = (k - 1) * self.hop + self.window if k else 0
        if need > self.inp.shape[0]:
            pad = np.zeros((need - self.inp.shape[0], self.inp.shape[1]), dtype=np.int16)
            self.inp = np.concatenate([self.inp, pad])
        self._run(k)
        return self._emit(self.pushed)

    def _run(self, k):
        """Compute the next ``k`` windows and add them into the accumulators."""
        if k == 0:
            return
        w, h, ch = self.window, self.hop, self.inp.shape[1]
        idx = np.arange(k)[:, None] * h + np.arange(w)[None, :]
        wins = np.ascontiguousarray(np.moveaxis(self.inp[idx], 2, 0).reshape(ch * k, w))
        y = np.concatenate([self._predict(wins[i:i + self.batch_size])
                            for i in range(0, wins.shape[0], self.batch_size)]).reshape(ch, k, w)
        r = -(-w // h)
        blocks, wblocks = np.zeros((ch, (k + r - 1) * h)), np.zeros((k + r - 1) * h)
        overlap_add(blocks, y * self.weights, 0, h)
        overlap_add(wblocks, np.broadcast_to(self.weights, (k, w)), 0, h)
        span = (k + r - 1) * h
        base = self.next_start - self.out_pos
        grow = base + span - self.acc.shape[0]
        if grow > 0:
            self.acc = np.concatenate([self.acc, np.zeros((grow, ch))])
            self.norm = np.concatenate([self.norm, np.zeros(grow)])
        self.acc[base:base + span] += blocks.T
        self.norm[base:base + span] += wblocks
        self.next_start += k * h
        self.inp = self.inp[k * h:]

    def _predict(self, wins):
        """The network's output for up to ``batch_size`` windows, (n, window), as floats."""
        check_interrupted()
        n = wins.shape[0]
        if n < self.batch_size:
            # Always the same batch shape: a new shape would make the backend trace (compile) the graph again.
            wins = np.concatenate([wins, np.zeros((self.batch_size - n, wins.shape[1]), wins.dtype)])
        # predict_on_batch: Model.predict would build a new input pipeline (and copy the array) on every call.
        return np.asarray(self.model.predict_on_batch(wins))[:n, :, 0]

    def _emit(self, upto):
        """Return (and drop) the output before global step ``upto``: float64 samples, full scale 1.0."""
        n = max(0, min(upto, self.pushed) - self.out_pos)
        out = self.acc[:n] / np.maximum(self.norm[:n], 1e-12)[:, None]
        self.acc, self.norm = self.acc[n:], self.norm[n:]
        self.out_pos += n
        return out


class Predictor:
    """A trained network ready to upsample: inference model, window, hop, batch size and input kind.

    Parameters
    ----------
    model, config
        From :func:`load_model`.
    overlap : int, optional
        44.1 kHz steps shared by consecutive windows (crossfaded). Default: the architecture's
        (:attr:`superres.archs.Architecture.hop`: half a window for ``bilstm``, 4096 steps for ``sbr``); 0 for
        none.
    batch_size : int, optional
        Windows per inference call (default: :attr:`superres.archs.Architecture.inference_batch`).
    window : int, optional
        For architectures whose weights do not depend on the window (``sbr``): a prediction window other
        than their ``predict_window`` (a multiple of their ``window_multiple``).
    runtime : str
        One of :data:`superres.runtime.RUNTIMES`: ``keras`` (as trained), ``onnx`` or ``onnx-int8`` (ONNX
        Runtime, ``bilstm`` only; int8 is about 3 times faster on a CPU, MAE 0.5-2% higher as measured).
    """

    def __init__(self, model, config, overlap=None, batch_size=None, window=None, runtime="keras", network=None):
        self.config = config
        self.runtime = runtime
        arch = architecture(config)
        self.input_kind = config["dataset"].get("input")
        #: The network restores from any cutoff it is told (``cgen``), reading a file at its own rate.
        self.any_cutoff = arch.any_cutoff
        #: The rate of the input it takes, Hz (see :meth:`blocks`); None: any (``cgen``).
        self.rate = None if arch.any_cutoff else input_rate(config)
        if arch.frame_stream:
            # Frames are streamed with their context (superres.genstream): no windows, nothing to crossfade.
            from . import bandplan

            if overlap not in (None, 0) or window:
                raise UserError(f"--overlap and windows do not apply to --arch {config['arch']}: it streams STFT "
                                "frames with their full context, so chunks join exactly")
            self.window = self.hop = bandplan.HOP
            self.batch_size = 1
            self.context = bandplan.context_frames(config)
            self.core = network if network is not None else inference_network(model, config, runtime)
            return

        self.window = (window or arch.predict_window) if arch.window_free else config["window"]
        self.hop = arch.hop(self.window) if overlap is None else self.window - overlap
        if not 0 < self.hop <= self.window:
            raise UserError(f"--overlap must be between 0 and {self.window - 1} (got {overlap})")
        self.batch_size = batch_size or arch.inference_batch(config)
        check_inference_fits(config, self.window, self.batch_size)  # before a batch of that size is allocated
        self.model = network if network is not None else inference_network(model, config, runtime, self.window)

    def stream(self, channels, rate=None, cutoff=None, ceiling=None):
        """A stream upsampler for ``channels`` channels: ``push(block)``, then ``finish()``.

        ``rate`` and ``cutoff`` (Hz): the input's, for a network told the cutoff (``cgen``, which needs both);
        the others take :attr:`rate` and their own band. ``ceiling``: for the networks that add a band to the
        input's sinc interpolation (``gen``, ``cgen``), keep the added band from taking samples past it
        (:class:`superres.splice.Headroom`); the others' output is the network's as it is.
        """
        if architecture(self.config).frame_stream:
            from .genstream import CutoffPlan, GenStream

            if self.any_cutoff and (rate is None or cutoff is None):
                raise ValueError(f"--arch {self.config['arch']} needs the input's rate and cutoff")
            plan = {"plan": CutoffPlan(cutoff), "rate": rate} if self.any_cutoff else {}
            # Keras's predict is not meant to be called from several threads at once: one job at a time there.
            return GenStream(self.core, self.context, channels, threads=1 if self.runtime == "keras" else None,
                             ceiling=ceiling, **plan)
        return StreamUpsampler(self.model, self.window, self.hop, channels, self.batch_size, self.input_kind,
                               self.rate)

    def array(self, x_low):
        """Upsample a whole array: int16 (n, channels) at :attr:`rate` -> int16 (high_frames(n), channels) at 44.1
        kHz."""
        return to_int16(np.concatenate(list(self.blocks([x_low], x_low.shape[1]))))

    def blocks(self, low_blocks, channels, rate=None, cutoff=None, ceiling=None):
        """Upsample a stream: int16 blocks (n, channels) at :attr:`rate` in (or, for a network told the cutoff,
        float or int16 blocks at ``rate`` with their ``cutoff``), float64 44.1 kHz blocks out.

        The one loop behind files (:func:`predict_file`), arrays (:meth:`array`) and the Python API
        (:func:`superres.api.upsample`). The output has exactly :func:`superres.audio.high_frames` of the frames
        pushed in (twice them at 22.05 kHz). ``ceiling``: see :meth:`stream`.
        """
        up = self.stream(channels, rate, cutoff, ceiling)
        for x in low_blocks:
            yield up.push(x)
        yield up.finish()


def _load_stream():
    importlib.import_module(f"{__package__}.genstream")
    from .dsp import load_fft

    load_fft()


def open_predictor(model_dir=None, which="best", runtime="auto", overlap=None, batch_size=None, log=None,
                   before_keras=None):
    """Load a model folder and make its :class:`Predictor`, importing Keras only when the runtime needs it.

    A model folder carries the graph prediction runs exported to ONNX beside each best checkpoint
    (``best.onnx`` beside ``best.keras``, written and checked by training, :func:`superres.runtime.write_onnx`):
    with ``runtime`` ``auto`` or ``onnx`` every architecture runs on ONNX Runtime alone, without TensorFlow
    or Keras. The export must be of the same checkpoint (its recorded SHA-256); if it is missing or stale,
    ``auto`` falls back to Keras (saying so) and ``onnx`` exports it again in memory. ``before_keras`` is
    called just before Keras is imported (the command line silences the backend's start-up there).

    Returns
    -------
    Predictor
    """
    from .runtime import current_network

    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    config = load_config(model_dir)
    arch = architecture(config)
    if runtime in ("auto", "onnx", "onnx-int8"):
        if arch.frame_stream:
            # The stream's FFT (scipy's where installed: a quarter of a second to import) loads in a thread while
            # ONNX Runtime loads the graph (the import lock makes the stream wait for it if it is not done).
            threading.Thread(target=_load_stream, daemon=True).start()
        network = current_network(weights_file(model_dir, which), config) if runtime != "onnx-int8" else None
        if network is not None:
            return Predictor(None, config, overlap, batch_size, runtime="onnx", network=network)
        if log and runtime == "auto":
            log(f"note  {model_dir}: no current ONNX export of its weights; running it on Keras")
        if runtime == "auto":
            runtime = "keras"
    if before_keras:
        before_keras()
    model, config = load_model(model_dir, which)
    return Predictor(model, config, overlap, batch_size, runtime=runtime)


#: Output sample format by the input's (``--subtype same``): its bit depth, 32-bit float for float and 32-bit
#: integer inputs, 16-bit for 8-bit ones.
SAME_SUBTYPE = {"PCM_24": "PCM_24", "PCM_32": "FLOAT", "FLOAT": "FLOAT", "DOUBLE": "FLOAT"}
#: libsndfile's lossy subtypes (PyAV's lossy codecs say so themselves: ``AvInfo.lossy``).
LOSSY_SUBTYPES = {"VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}


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
    return detect_bandwidth(read_blocks(path, info.samplerate, block, "float64"), info.samplerate, info.channels)


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
    info = audio_info(in_path)
    if info.frames == 0:
        raise UserError(f"{in_path}: contains no audio frames; nothing to upsample")
    rate_in, channels = int(info.samplerate), int(info.channels)
    rate_out = output_rate(rate_in, rate)
    subtype = subtype or same_subtype(info, out_path)
    # A network told the cutoff reads the file at its own rate, in float; the others at theirs, in 16 bits.
    rate_net = predictor.rate or rate_in
    dtype = "float64" if predictor.any_cutoff else "int16"
    block = max(1, int(chunk_seconds * rate_net))
    bw = measure_bandwidth(in_path, info, cutoff)
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
        for x in read_blocks(in_path, rate_net, block, dtype):
            yield x
            xf = x if dtype == "float64" else to_float(x)
            counts["frames"] += x.shape[0]
            counts["clipped"] += int(np.count_nonzero((xf >= 32767 / 32768) | (xf <= -1.0)))
            counts["peak"] = max(counts["peak"], int(np.abs(xf).max(initial=0.0) * 32768))
            if progress and mode != "unchanged":
                progress(x.shape[0] / rate_net)

    def real():
        for x in read_blocks(in_path, rate_out, block, "float64"):
            if mode == "unchanged":
                counts["peak"] = max(counts["peak"], int(np.abs(x).max(initial=0.0) * 32768))
                if progress:
                    progress(x.shape[0] / rate_out)
            yield x

    # What the network adds never takes a sample past full scale (after --gain), where the real band is not.
    ceiling = CEILING / gain
    if mode == "unchanged":
        outputs = real()
    elif mode == "network":
        outputs = predictor.blocks(inputs(), channels, ceiling=ceiling)
    else:
        generated = predictor.blocks(inputs(), channels, rate_net, bw.cutoff)
        if rate_out != HIGH_RATE:
            n44 = high_frames(-(-info.frames * rate_net // rate_in), rate_net)
            generated = resample_blocks(generated, HIGH_RATE, rate_out, channels, n44, block, "float64")
        outputs = splice_blocks(exact_blocks(real(), 0, total, block), exact_blocks(generated, 0, total, block),
                                rate_out, bw.cutoff, channels, total, ceiling)
    with open_atomic_writer(out_path, rate_out, channels, subtype) as out, ThreadPoolExecutor(1) as writer:
        # Each block is quantized and written in a thread (numpy and libsndfile release the GIL) while the next
        # one is read and computed; at most two blocks wait, in order, and a write error stops the loop.
        pending = None
        for y in outputs:
            job = writer.submit(write, y)
            if pending is not None:
                pending.result()
            pending = job
        if pending is not None:
            pending.result()
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


#: An input at the model's rate whose band reaches this share of its Nyquist frequency is the network's own case
#: (a resampler's roll-off ends its band a little below 11.025 kHz at 22.05 kHz).
NATIVE_FRACTION = 0.9


def songs_scan_dir(config, model_dir):
    """The scan folder whose songs a prediction without inputs upsamples (see :func:`resolve_inputs`)."""
    own = model_path(model_dir, config, "scan_dir")
    scan_dir = next((d for d in (own, Path(DEFAULT_SCAN_DIR)) if (d / MANIFEST_NAME).is_file()), None)
    if scan_dir is None:
        raise UserError(f"no songs to upsample: the songs {model_dir} was trained on ({own}) are not on this "
                        f"machine, and {DEFAULT_SCAN_DIR} holds no scan (run 10-scan.py); name the files or "
                        "folders to upsample")
    return scan_dir


def resolve_inputs(inputs, config, out_dir=None, model_dir=None, problems=None, scan_dir=None):
    """Turn the user's file and folder arguments into (input path, relative output path) pairs.

    With no inputs, the 22.05 kHz songs of a scan folder are used: the model's own (the songs it was trained
    on) if it is on this machine, else ``data/22k`` (what ``10-scan.py`` writes by default) if it holds a
    scan. Files inside ``out_dir`` are skipped when a folder is searched, so a re-run never takes its own
    earlier outputs as input. Broken symbolic links found in a folder are added to ``problems``. ``scan_dir``:
    that scan folder, if the caller found it already (:func:`songs_scan_dir`).
    """
    pairs = []
    skip = resolved(out_dir) if out_dir else None
    if not inputs:
        scan_dir = scan_dir or songs_scan_dir(config, model_dir)
        return [(scan_dir / e["output"], Path(e["output"])) for e in load_scan(scan_dir)["files"]]
    for item in map(Path, inputs):
        if item.is_dir() and skip is not None and resolved(item) == skip:
            raise UserError(f"{item}: the output folder is the input folder; choose another --output")
        if item.is_dir():
            pairs += [(item / rel, rel.with_suffix(".wav")) for rel in list_audio_files(item, READ_EXTENSIONS,
                                                                                          problems)
                      if skip is None or skip not in (item / rel).resolve().parents]
        else:
            pairs.append((item, Path(item.name).with_suffix(".wav")))
    return pairs


def plan_outputs(pairs, out_dir, previous, overwrite):
    """Decide, before anything is written, what happens to every output path.

    Two inputs that would write the same output are refused (nothing is written). An output that exists
    already is replaced only with ``overwrite``; without it, it is skipped: as done, when the folder's manifest
    says that this model wrote it from this input, or as someone else's file.

    Returns
    -------
    todo : list of (input path, relative output path)
    skipped : list of str
        One line per skipped file, saying why.
    failures : list of (path, message)
        Inputs that would be written over themselves.
    """
    seen = {}
    for src, rel in pairs:
        key = rel.as_posix()
        if key in seen:
            raise UserError(f"{seen[key]} and {src} would both be written to {Path(out_dir) / rel}; upsample them "
                            "in separate runs with different --output folders, or rename one")
        seen[key] = src
    todo, skipped, failures = [], [], []
    for src, rel in pairs:
        dst = Path(out_dir) / rel
        try:
            same = resolved(dst) == resolved(src)
        except UserError as e:  # a symbolic link loop: this input fails, the others go on
            failures.append((src, str(e)))
            continue
        if same:
            failures.append((src, f"{dst}: output path equals the input path; choose another output folder"))
            continue
        if not (dst.exists() or dst.is_symlink()) or overwrite:
            todo.append((src, rel))
            continue
        entry = previous.get(rel.as_posix())
        if entry and resolve_path(entry["input"], out_dir).resolve() == Path(src).resolve():
            skipped.append(f"skip  {dst} (done earlier by this model; --overwrite to redo it)")
        elif entry:
            skipped.append(f"skip  {dst} (exists, made from another input; --overwrite to replace it)")
        else:
            skipped.append(f"skip  {dst} (exists and was not written by superres; left as it is, --overwrite "
                           "to replace it)")
    return todo, skipped, failures


def predict_paths(model_dir, inputs, out_dir, batch_size=None, chunk_seconds=10.0, subtype=None,
                  which="best", log=print, show_progress=True, overlap=None, runtime="auto", overwrite=False,
                  before_keras=None, gain_db=0.0, warn=to_stderr, cutoff="auto", rate=None):
    """Upsample files and folders with a trained model; write ``out_dir/manifest.json``.

    Every output path is planned before anything is written (:func:`plan_outputs`): a file that exists is
    never replaced without ``overwrite``, and two inputs never write the same output.

    Parameters
    ----------
    model_dir : path-like or None
        None: the pretrained default (:func:`default_model_dir`).
    batch_size, overlap : int, optional
    runtime : str
        See :class:`Predictor`.
    overwrite : bool
        Replace outputs that exist already.
    subtype, gain_db, cutoff, rate
        See :func:`predict_file`.
    log, warn : callable
        Receive the progress lines, and the ``error:`` line of each file that fails (default: stderr).

    Returns
    -------
    list of (path, message)
        The inputs that failed, with the reason; the other files are written (or skipped, and said so).
    """
    from tqdm import tqdm

    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    out_dir = Path(out_dir)
    config = load_config(model_dir)
    failures = []
    # The scan whose songs a run without inputs upsamples: found once, for the inputs and the manifest.
    songs_from = None if inputs else songs_scan_dir(config, model_dir)
    pairs = resolve_inputs(inputs, config, out_dir, model_dir, failures, songs_from)
    if not pairs:
        raise UserError(f"no audio files found in {', '.join(map(str, inputs))}")
    check_writable_dir(out_dir)
    manifest_path = out_dir / MANIFEST_NAME
    old = previous_manifest(out_dir, "predict")
    stamp = weights_stamp(weights_file(model_dir, which))
    same_model = bool(old) and resolve_path(old.get("model_dir", ""), out_dir).resolve() == model_dir.resolve() \
        and old.get("weights") == which and old.get("weights_stamp") == stamp
    if old and not same_model and not overwrite:
        raise UserError(f"{out_dir}: holds the outputs of another model, or of this one before it was trained "
                        f"further ({resolve_path(old.get('model_dir', '?'), out_dir)}, {old.get('weights')} "
                        "weights); choose another --output, or --overwrite to replace them")
    files = {e["output"]: e for e in old["files"]} if same_model else {}
    todo, skipped, refused = plan_outputs(pairs, out_dir, files, overwrite)
    for line in skipped:
        log(line)
    for _, msg in refused:
        warn(f"error: {msg}")
    failures += refused
    if not todo:
        log(f"nothing to do: every output exists in {out_dir}")
        return failures

    predictor = open_predictor(model_dir, which, runtime, overlap, batch_size, log=log, before_keras=before_keras)
    runtime = predictor.runtime
    log(f"model {model_dir} ({config['arch']}, {weights_file(model_dir, which).name}, {runtime})")
    written = 0
    for src, rel in todo:
        dst = out_dir / rel
        try:
            seconds = audio_info(src).duration
            with tqdm(total=seconds, unit="s", desc=str(rel), disable=not show_progress,
                      bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}]") as bar:
                entry = predict_file(predictor, src, dst, chunk_seconds, subtype, progress=bar.update, log=log,
                                     gain_db=gain_db, cutoff=cutoff, rate=rate)
            entry["input"] = relative_path(src, out_dir)
            entry["output"] = rel.as_posix()
            entry["runtime"] = runtime  # per file: a folder may be filled by runs on different runtimes
            files[entry["output"]] = entry
            written += 1
            log(f"wrote {dst}")
        except UserError as e:
            check_interrupted()  # a signal inside a C call may surface as a decoding error
            failures.append((src, str(e)))
            warn(f"error: {e}")
    if not written:
        return failures  # nothing written: leave the output folder as it was
    write_json_atomic(manifest_path, {
        "stage": "predict",
        "format_version": FORMAT_VERSION,
        "model_dir": relative_path(model_dir, out_dir),
        # What evaluation needs when this folder is moved apart from the model (superres.evaluate.PredictionFolder):
        # the model's name, whether it is the pretrained default, its test split, the scan whose songs it upsampled.
        "model_name": model_dir.resolve().name,
        "pretrained": model_dir.resolve() == default_model_dir().resolve(),
        "train_fraction": config["train_fraction"],
        "scan_dir": (relative_path(songs_from, out_dir) if songs_from is not None
                     else (old or {}).get("scan_dir") if same_model else None),
        "weights": which,
        "weights_stamp": stamp,
        "runtime": runtime,
        "model": {k: config[k] for k in (*arch_keys(config["arch"]), "window")},
        "files": [files[k] for k in sorted(files)],
    })
    return failures
