"""The architectures and what the rest of the package needs to know of each, without importing Keras.

One :class:`Architecture` per ``--arch``: its settings and their defaults, the dataset it needs, the window
and overlap prediction uses, the inference batch, the runtimes it runs on, and the module of
:mod:`superres.models` that builds it. Training, prediction and the runtimes ask this registry rather than
test architecture names, so a new architecture is one module and one entry here.
"""

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import bandplan
from .errors import UserError


def half_window_hop(window):
    """Half-window overlap, rounded so that the hop is even (whole 22.05 kHz frames)."""
    return max(2, (window // 2) // 2 * 2)


@dataclass(frozen=True)
class Architecture:
    """What one architecture is, for training and prediction.

    Attributes
    ----------
    name : str
        The ``--arch`` value and the config's ``arch``.
    module : str
        Module of :mod:`superres.models` with ``build(config, window=None) -> keras.Model`` and
        ``loss(config)``.
    defaults : dict
        The network's and the optimizer's settings with their defaults.
    dataset : dict
        Dataset fields it needs beyond the common ones (``input``, ``encoding``).
    window_multiple : int
        The dataset's window must be a multiple of this (44.1 kHz steps).
    window_free : bool
        Whether the weights do not depend on the window, so that prediction may rebuild the network for
        longer windows (``predict_window``).
    predict_window : int or None
        Prediction window when ``window_free`` (44.1 kHz steps); None: the training window.
    hop : callable
        ``hop(window) -> int``: default distance between prediction windows (the rest overlaps).
    inference_batch : callable
        ``inference_batch(config) -> int``: windows per inference call that run fastest on a CPU.
    runtimes : tuple of str
        Inference runtimes it runs on (:data:`superres.runtime.RUNTIMES`).
    added : dict, optional
        Settings (among ``defaults``) added after the architecture's first models were trained, with the value
        that reproduces those models; a config without them gets these values.
    optimizer : {"rmsprop", "adam"}
        :func:`superres.models.make_optimizer`'s kind.
    remade_inputs : bool
        Training remakes the inputs from the targets for every batch with a random resampler
        (:mod:`superres.degrade`) instead of reading the dataset's.
    frame_stream : bool
        Prediction streams STFT frames through the backbone (:mod:`superres.genstream`) instead of cutting
        windows and crossfading them.
    params : callable
        ``params(config) -> int``: the weights of the network a config describes (its discriminator's too, for
        an adversarial run), counted from the settings alone, exactly as Keras counts them.
    activations : callable
        ``activations(config, window) -> (training, inference)``: float32 values one window of ``window``
        steps holds in a training step (forward and backward) and in an inference call; estimates.
    sizes : tuple of str
        The settings that size the network, for :func:`check_fits`'s suggestions.
    any_cutoff : bool
        The network is told the input's cutoff and restores from any cutoff (``cgen``): it reads a file at its
        own rate (upsampled to 44.1 kHz), not at a fixed input rate.
    """

    name: str
    module: str
    defaults: dict
    dataset: dict
    hop: Callable
    inference_batch: Callable
    window_multiple: int = 2
    window_free: bool = False
    predict_window: Optional[int] = None
    runtimes: tuple = ("keras",)
    added: dict = None
    optimizer: str = "rmsprop"
    remade_inputs: bool = False
    frame_stream: bool = False
    params: Callable = None
    activations: Callable = None
    sizes: tuple = ()
    any_cutoff: bool = False

    def builder(self):
        """The module that builds the network and its loss (imports Keras)."""
        return importlib.import_module(f"superres.models.{self.module}")


def _bilstm_batch(config):
    # The BiLSTM steps through its window with a (batch, 4 x units) gate matrix per direction; it is fastest
    # when that stays within about half a megabyte of cache: 64 windows for the full-size network (measured
    # 25,900 samples/s against 24,100 with 1,024), 1,024 for the demo size.
    return int(min(1024, max(64, 2 ** int(np.log2(2 ** 19 / (16 * config["units"]))))))


# ------------------------------------------------------------------------------------------ network sizes
# Counted from the settings, without Keras, so that a network too large for the machine is refused before it is
# built (:func:`check_fits`). Parameter counts are exact (tests/test_options.py compares them with Keras's).
# Activations are float32 values per window, from the peak resident memory of training steps at two batch
# sizes (TensorFlow backend, CPU): the formulas are within 20% of every measurement below (17% under for the
# full-size bilstm, over for the others), in the measured order of magnitude elsewhere.


def _bilstm_params(c):
    u, d, d2 = c["units"], c["dense"], c["dense2"]
    features = c["bits"] if c["dataset"]["encoding"] == "bits" else 1

    def bidirectional(n_in):  # two LSTMs: four gates, each with input and recurrent kernels and a bias
        return 2 * 4 * u * (n_in + u + 1)

    return bidirectional(features) + 2 * (2 * u * d + d) + bidirectional(d) + d * d2 + d2 + d2 + 1


def _bilstm_activations(c, window):
    u, d, d2 = c["units"], c["dense"], c["dense2"]
    features = c["bits"] if c["dataset"]["encoding"] == "bits" else 1
    # Per step: the LSTMs' gates, states and outputs kept for the backward pass, the dense layers' outputs.
    # Measured per window of 50 steps: 1.15 M values for 300/500/20 units, 0.47 M for 64/128/20; the memory of
    # TensorFlow's LSTM gradient on a CPU also grows with the square of the window (95 M values per window of
    # 800 steps for 64 units), the second term. Inference: 3,060 values per step for 300/500/20.
    training = window * (32 * u + 4 * d + 2 * d2 + features) + 150 * window ** 2
    return training, window * (8 * u + d + d2 + features)


def _frames(window):
    return window // SBR_HOP + 1


def _sbr_params(c):
    ch, b, k = c["channels"], c["bands"], c["kernel"]
    return SBR_LOW_BINS * ch + ch + 2 * (k * ch * ch + ch) + ch * b + b


def _sbr_activations(c, window):
    # The STFTs of the network and of its three-resolution loss dominate: 81 values per sample measured (8192-
    # sample windows, default sizes); the layers add their widths per STFT frame. Inference: 21.5 per sample.
    per_frame = 6 * c["channels"] + 3 * c["bands"]
    return 80 * window + per_frame * _frames(window), 24 * window + per_frame * _frames(window) // 2


#: Samples of each training window the discriminator of an adversarial run sees by default (0.19 s, HiFi-GAN's
#: segment): on 2 CPU cores it judging whole 32768-sample windows made a step 18 times a spectral one.
DISC_SEGMENT = 8192


def disc_view(config, window):
    """Samples of a ``window``-sample example that the discriminator judges: ``disc_segment``, or the whole
    window where that is 0 (runs made before it) or longer."""
    segment = config.get("disc_segment", 0)
    return min(segment, window) if segment else window


#: Resolutions of the ``gen`` discriminator (:data:`superres.models.discriminators.DISC_RESOLUTIONS`, which
#: imports Keras; tests/test_options.py checks the count).
_DISC_RESOLUTIONS = 3


def _gen_params(c, bins_in=bandplan.LOW_BINS, bins_out=bandplan.TOP_BINS):
    dim, e, k = c["dim"], c["expand"], c["kernel"]
    block = k * dim + dim + 2 * dim + dim * e * dim + e * dim + e * dim * dim + dim
    n = bins_in * dim + dim + 2 * dim + c["blocks"] * block + 2 * dim + (dim + 1) * bins_out
    if c.get("adv_weight", 0) > 0:
        dc = c["disc_channels"]
        n += _DISC_RESOLUTIONS * (27 * dc + dc + 2 * (27 * dc * dc + dc) + 9 * dc * dc + dc + 9 * dc + 1)
    return n


def _gen_activations(c, window):
    # Measured per sample (8192-sample windows): 86 values at the default sizes, 160 with --dim 384 (the
    # backbone's term, per STFT frame: 67 x dim at 4 blocks of expansion 3), 643 with the adversarial term
    # (its discriminator, run on the real and the generated audio: about 35 per sample and disc channel).
    backbone = c["dim"] * (7 + c["blocks"] * (6 + 3 * c["expand"])) * _frames(window)
    training = 61 * window + backbone
    if c.get("adv_weight", 0) > 0:
        training += 35 * disc_view(c, window) * c["disc_channels"]
    return training, 24 * window + backbone // 2


#: STFT of the ``sbr`` architecture: points and hop at 44.1 kHz (23 ms frames, 5.8 ms hop).
SBR_FFT, SBR_HOP = 1024, 256
#: STFT bins below 11.025 kHz (the band the input already has).
SBR_LOW_BINS = SBR_FFT // 4
#: Bins of the top octave (11.025-22.05 kHz, the Nyquist bin left out) that the envelope's ``bands`` split into
#: equal bands: ``bands`` must divide it.
SBR_TOP_BINS = SBR_FFT // 2 - SBR_LOW_BINS

#: Prediction windows of the ``sbr`` network (1.5 s: its weights do not depend on the window) and their
#: overlap (93 ms, beyond the reach of its STFT and convolutions, about 35 ms).
SBR_WINDOW, SBR_OVERLAP = 65536, 4096

ARCHITECTURES = {a.name: a for a in (
    Architecture(
        name="bilstm", module="bilstm",
        defaults={"units": 300, "dense": 500, "dense2": 20, "lr": 1e-4, "decay": 0.03, "batch_size": 64},
        dataset={}, hop=half_window_hop, inference_batch=_bilstm_batch,
        runtimes=("keras", "onnx", "onnx-int8"), params=_bilstm_params, activations=_bilstm_activations,
        sizes=("units", "dense", "dense2")),
    Architecture(
        name="sbr", module="sbr",
        defaults={"channels": 64, "bands": 32, "kernel": 5, "wave_weight": 100.0, "lr": 1e-3, "decay": 0.0,
                  "batch_size": 16},
        dataset={"input": "sinc", "encoding": "pcm", "low_rate": bandplan.LOW_RATE}, window_multiple=256,
        window_free=True,
        predict_window=SBR_WINDOW, hop=lambda window: window - min(SBR_OVERLAP, window // 4),
        # 1.5 s windows: 4 fill a call.
        inference_batch=lambda config: 4, runtimes=("keras", "onnx"), params=_sbr_params,
        activations=_sbr_activations,
        sizes=("channels", "kernel")),
    Architecture(
        name="gen", module="gen",
        defaults={"dim": 96, "blocks": 4, "expand": 3, "kernel": 7, "band_weight": 1.0, "lr": 5e-4,
                  "decay": 0.0, "batch_size": 16, "adv_weight": 0.0, "fm_weight": 2.0, "disc_channels": 16,
                  "disc_segment": DISC_SEGMENT},
        added={"adv_weight": 0.0, "fm_weight": 2.0, "disc_channels": 16, "disc_segment": 0},
        dataset={"input": "sinc", "encoding": "pcm", "low_rate": bandplan.LOW_RATE}, window_multiple=256,
        window_free=True,
        # Frames are streamed (superres.genstream); these two only matter to its Keras-window fallback.
        predict_window=SBR_WINDOW, hop=lambda window: window - min(SBR_OVERLAP, window // 4),
        inference_batch=lambda config: 1, runtimes=("keras", "onnx"), optimizer="adam", remade_inputs=True,
        frame_stream=True, params=_gen_params, activations=_gen_activations,
        sizes=("dim", "blocks", "expand", "kernel", "disc_channels")),
    Architecture(
        name="cgen", module="cgen",
        defaults={"dim": 96, "blocks": 4, "expand": 3, "kernel": 7, "band_weight": 3.0, "lr": 5e-4,
                  "decay": 0.0, "batch_size": 16, "adv_weight": 0.0, "fm_weight": 2.0, "disc_channels": 16,
                  "disc_segment": DISC_SEGMENT},
        added={"disc_segment": 0},
        # Any scan's dataset serves: only its 44.1 kHz targets are read, the inputs are remade for every batch.
        dataset={"encoding": "pcm"}, window_multiple=256, window_free=True,
        predict_window=SBR_WINDOW, hop=lambda window: window - min(SBR_OVERLAP, window // 4),
        inference_batch=lambda config: 1, runtimes=("keras", "onnx"), optimizer="adam", remade_inputs=True,
        frame_stream=True, any_cutoff=True,
        params=lambda c: _gen_params(c, 2 * bandplan.ALL_BINS, bandplan.ANY_BINS), activations=_gen_activations,
        sizes=("dim", "blocks", "expand", "kernel", "disc_channels")),
)}


def architecture(config_or_name):
    """The :class:`Architecture` of a model config (or of an architecture name)."""
    name = config_or_name if isinstance(config_or_name, str) else config_or_name.get("arch")
    if name not in ARCHITECTURES:
        raise UserError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


# ------------------------------------------------------------------------------------------ memory

#: Memory a training process takes in its first steps beyond weights and activations (graph tracing, the input
#: pipeline's buffers): 200-250 MB measured.
_RUNTIME_BYTES = 256 * 2 ** 20


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def available_memory():
    """Bytes of memory this process can still take, or None where the system does not say.

    ``MemAvailable`` of ``/proc/meminfo`` (free memory plus what the kernel can reclaim), or the free pages
    (``os.sysconf``) without it; less where a cgroup (a container's memory limit) leaves less.
    """
    import os

    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, used = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and used is not None and limit < 2 ** 60:  # "max" and 2**63 mean no limit
            free = min(free, max(0, limit - used))
            break
    return free


def training_bytes(config, counts=None):
    """Estimated memory, bytes, a training run of ``config`` needs before it can take its first steps.

    Weights, their gradients and the optimizer's slots (one for RMSprop, two for Adam), the activations of one
    training batch or one validation batch (``max(batch, 256)`` windows, forward only), whichever is larger,
    and the runtime's own. ``counts`` (the dataset's ``{"train": n, "test": m}`` windows) caps the batches at
    what the splits hold.
    """
    arch = architecture(config)
    train, infer = arch.activations(config, config["window"])
    batch, val_batch = config["batch_size"], max(config["batch_size"], 256)
    if counts:
        batch, val_batch = min(batch, max(1, counts["train"])), min(val_batch, max(1, counts["test"]))
    slots = 2 if arch.optimizer == "adam" else 1
    return 4 * arch.params(config) * (2 + slots) + 4 * max(train * batch, infer * val_batch) + _RUNTIME_BYTES


def _largest(fits, hi, step=1):
    """The largest multiple of ``step`` up to ``hi`` for which ``fits`` holds (it must hold for all smaller
    values), or None if not even ``step`` fits."""
    lo, top = 1, hi // step
    if top < 1 or not fits(step):
        return None
    while lo < top:
        mid = (lo + top + 1) // 2
        lo, top = (mid, top) if fits(mid * step) else (lo, mid - 1)
    return lo * step


def _gb(n):
    return f"{n / 2 ** 30:.3g} GB"


def _count(n):
    return f"{n:,}" if n < 10 ** 6 else f"{n / 1e6:,.1f} million" if n < 10 ** 12 else f"{n:.2g}"


def check_fits(config, counts=None, available=None):
    """Refuse, before anything is built, a network too large to train in this machine's memory.

    Parameters
    ----------
    config : dict
        A model config (:func:`superres.runs.make_config`): architecture, sizes, window, batch size.
    counts : dict, optional
        The dataset's windows per split (``meta["counts"]``).
    available : int, optional
        Bytes available (default: :func:`available_memory`; no check where it is unknown).

    Raises
    ------
    UserError
        One line: how large the network would be, how much memory it needs, how much there is, and which
        setting, reduced alone, would make it fit.
    """
    available = available_memory() if available is None else available
    need = training_bytes(config, counts)
    if available is None or need <= available:
        return
    arch = architecture(config)
    batch = min(config["batch_size"], max(1, counts["train"])) if counts else config["batch_size"]
    fits = []
    for key, current, step in ([(k, config[k], 1) for k in arch.sizes] + [("batch_size", batch, 1)]
                               + [("window", config["window"], arch.window_multiple)]):
        v = _largest(lambda v, key=key: training_bytes({**config, key: v}, counts) <= available, current - 1, step)
        if v is not None:
            fits.append(f"a dataset built with --window up to {v}" if key == "window" else
                        f"--{key.replace('_', '-')} up to {v}")
    sizes = " ".join(f"--{k.replace('_', '-')} {config[k]}" for k in (*arch.sizes, "batch_size"))
    advice = (f"what fits, the other settings as they are: {', or '.join(fits)}" if fits else
              "no one setting reduced alone makes it fit: give smaller sizes")
    raise UserError(f"--arch {arch.name} {sizes}: the network would have {_count(arch.params(config))} parameters "
                    f"and need about {_gb(need)} of memory to train in batches of {batch} windows of "
                    f"{config['window']} steps, but this machine has {_gb(available)} available; {advice}")


def inference_bytes(config, window, batch):
    """Estimated memory, bytes, of one inference call: the weights, ``batch`` int16 windows of ``window`` steps,
    their activations and the float32 output."""
    arch = architecture(config)
    return 4 * arch.params(config) + batch * (4 * arch.activations(config, window)[1] + 6 * window)


def check_inference_fits(config, window, batch, available=None):
    """Refuse an inference batch (``--inference-batch``) too large for this machine's memory, before any
    network is built or any batch allocated.

    Settings ``config`` lacks (a config made by hand around a network built in code) count as the
    architecture's defaults.
    """
    arch = architecture(config)
    config = {**arch.defaults, "bits": 16, **config,
              "dataset": {"encoding": "bits" if arch.name == "bilstm" else "pcm", **config.get("dataset", {})}}
    available = available_memory() if available is None else available
    need = inference_bytes(config, window, batch)
    if available is None or need <= available:
        return
    most = _largest(lambda b: inference_bytes(config, window, b) <= available, batch - 1)
    advice = f"use --inference-batch {most} or less" if most else "this machine cannot run the network"
    raise UserError(f"--inference-batch {batch}: one batch of {batch} windows of {window} steps would need about "
                    f"{_gb(need)} of memory, but this machine has {_gb(available)} available; {advice}")
