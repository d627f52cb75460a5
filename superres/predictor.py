"""A trained network ready to upsample: :class:`Predictor`, opened from a model folder by :func:`open_predictor`.

A predictor turns a stream of blocks at the network's input rate into 44.1 kHz blocks, float64, full scale 1.0,
not yet rounded or clipped: :func:`superres.predict.predict_file` writes files with it, :mod:`superres.api`
arrays, :mod:`superres.evaluate` scores it. The output has exactly :func:`superres.audio.high_frames` of the
input's frames (twice them at 22.05 kHz) and the input's channels, each one its own stream.
"""

import importlib
import threading

import numpy as np

from .archs import architecture, check_inference_fits
from .audio import to_int16
from .errors import UserError
from .runs import ModelFolder, input_rate
from .runtime import inference_network
from .windows import StreamUpsampler


class Predictor:
    """A trained network ready to upsample: inference network, window, hop, batch size and input kind.

    Parameters
    ----------
    model : keras.Model or None
        The network as trained (:func:`superres.models.loading.load_model`, or one built in memory); None when
        ``network`` is given.
    config : dict
        Its model config.
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
        Runtime; int8 for ``bilstm`` only, about 3 times faster on a CPU, MAE 0.5-2% higher as measured).
    network : optional
        The network on its runtime already (:meth:`superres.runs.ModelFolder.onnx_network`), in place of
        ``model``.
    folder : ModelFolder, optional
        The model folder it was opened from (:func:`open_predictor`), handed down to what records it.
    """

    def __init__(self, model, config, overlap=None, batch_size=None, window=None, runtime="keras", network=None,
                 folder=None):
        self.config = config
        self.runtime = runtime
        self.folder = folder
        self.arch = arch = folder.arch if folder is not None else architecture(config)
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

    def stream(self, channels, rate=None, cutoff=None, ceiling=None, parts=False):
        """A stream upsampler for ``channels`` channels: ``push(block)``, then ``finish()``.

        ``rate`` and ``cutoff`` (Hz): the input's, for a network told the cutoff (``cgen``, which needs both);
        the others take :attr:`rate` and their own band. ``ceiling``: for the networks that add a band to the
        input's sinc interpolation (``gen``, ``cgen``), keep the added band from taking samples past it
        (:class:`superres.splice.Headroom`); the others' output is the network's as it is. ``parts``: for those
        networks (:attr:`adds_band`), return the sinc interpolation and the added band apart, as pairs
        (:class:`superres.genstream.GenStream`).
        """
        if parts and not self.adds_band:
            raise ValueError(f"--arch {self.config['arch']} rewrites the waveform: it has no added band apart")
        if self.arch.frame_stream:
            from .genstream import CutoffPlan, GenStream

            if self.any_cutoff and (rate is None or cutoff is None):
                raise ValueError(f"--arch {self.config['arch']} needs the input's rate and cutoff")
            plan = {"plan": CutoffPlan(cutoff), "rate": rate} if self.any_cutoff else {}
            # Keras's predict is not meant to be called from several threads at once: one job at a time there.
            return GenStream(self.core, self.context, channels, threads=1 if self.runtime == "keras" else None,
                             ceiling=ceiling, parts=parts, **plan)
        return StreamUpsampler(self.model, self.window, self.hop, channels, self.batch_size, self.input_kind,
                               self.rate)

    def array(self, x_low):
        """Upsample a whole array: int16 (n, channels) at :attr:`rate` -> int16 (high_frames(n), channels) at 44.1
        kHz."""
        return to_int16(np.concatenate(list(self.blocks([x_low], x_low.shape[1]))))

    @property
    def adds_band(self):
        """Whether the network adds a band to the input's sinc interpolation (``gen``, ``cgen``: their stream
        can return the two apart) rather than rewriting the waveform."""
        return bool(self.arch.frame_stream)

    def blocks(self, low_blocks, channels, rate=None, cutoff=None, ceiling=None, parts=False):
        """Upsample a stream: int16 blocks (n, channels) at :attr:`rate` in (or, for a network told the cutoff,
        float or int16 blocks at ``rate`` with their ``cutoff``), float64 44.1 kHz blocks out.

        The one loop behind files (:func:`superres.predict.predict_file`), arrays (:meth:`array`) and the Python
        API (:func:`superres.api.upsample`). The output has exactly :func:`superres.audio.high_frames` of the
        frames pushed in (twice them at 22.05 kHz). ``ceiling``, ``parts``: see :meth:`stream`.
        """
        up = self.stream(channels, rate, cutoff, ceiling, parts)
        for x in low_blocks:
            yield up.push(x)
        yield up.finish()


def _load_stream():
    importlib.import_module(f"{__package__}.genstream")
    from .dsp import load_fft

    load_fft()


def open_predictor(model=None, which="best", runtime="auto", overlap=None, batch_size=None, log=None,
                   before_keras=None):
    """Make the :class:`Predictor` of a model folder, importing Keras only when the runtime needs it.

    A model folder carries the graph prediction runs exported to ONNX beside each best checkpoint
    (``best.onnx`` beside ``best.keras``, written and checked by training, :func:`superres.runtime.write_onnx`):
    with ``runtime`` ``auto`` or ``onnx`` every architecture runs on ONNX Runtime alone, without TensorFlow
    or Keras. The export must be of the same checkpoint (its recorded SHA-256); if it is missing or stale,
    ``auto`` falls back to Keras (saying so) and ``onnx`` exports it again in memory. ``before_keras`` is
    called just before Keras is imported (the command line silences the backend's start-up there).

    Parameters
    ----------
    model : ModelFolder or path-like, optional
        The folder, read already, or its path (opened as ``ModelFolder(model, which)``; None: the pretrained
        default).

    Returns
    -------
    Predictor
    """
    folder = ModelFolder.of(model, which)
    if runtime in ("auto", "onnx", "onnx-int8"):
        if folder.arch.frame_stream:
            # The stream's FFT (scipy's where installed: a quarter of a second to import) loads in a thread while
            # ONNX Runtime loads the graph (the import lock makes the stream wait for it if it is not done).
            threading.Thread(target=_load_stream, daemon=True).start()
        network = folder.onnx_network() if runtime != "onnx-int8" else None
        if network is not None:
            return Predictor(None, folder.config, overlap, batch_size, runtime="onnx", network=network, folder=folder)
        if log and runtime == "auto":
            log(f"note  {folder.path}: no current ONNX export of its weights; running it on Keras")
        if runtime == "auto":
            runtime = "keras"
    if before_keras:
        before_keras()
    from .models.loading import load_model

    return Predictor(load_model(folder), folder.config, overlap, batch_size, runtime=runtime, folder=folder)
