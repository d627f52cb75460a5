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

    def builder(self):
        """The module that builds the network and its loss (imports Keras)."""
        return importlib.import_module(f"superres.models.{self.module}")


def _bilstm_batch(config):
    # The BiLSTM steps through its window with a (batch, 4 x units) gate matrix per direction; it is fastest
    # when that stays within about half a megabyte of cache: 64 windows for the full-size network (measured
    # 25,900 samples/s against 24,100 with 1,024), 1,024 for the demo size.
    return int(min(1024, max(64, 2 ** int(np.log2(2 ** 19 / (16 * config["units"]))))))


#: Prediction windows of the ``sbr`` network (1.5 s: its weights do not depend on the window) and their
#: overlap (93 ms, beyond the reach of its STFT and convolutions, about 35 ms).
SBR_WINDOW, SBR_OVERLAP = 65536, 4096

ARCHITECTURES = {a.name: a for a in (
    Architecture(
        name="bilstm", module="bilstm",
        defaults={"units": 300, "dense": 500, "dense2": 20, "lr": 1e-4, "decay": 0.03, "batch_size": 64},
        dataset={}, hop=half_window_hop, inference_batch=_bilstm_batch,
        runtimes=("keras", "onnx", "onnx-int8")),
    Architecture(
        name="sbr", module="sbr",
        defaults={"channels": 64, "bands": 32, "kernel": 5, "wave_weight": 100.0, "lr": 1e-3, "decay": 0.0,
                  "batch_size": 16},
        dataset={"input": "sinc", "encoding": "pcm"}, window_multiple=256, window_free=True,
        predict_window=SBR_WINDOW, hop=lambda window: window - min(SBR_OVERLAP, window // 4),
        # 1.5 s windows: 4 fill a call.
        inference_batch=lambda config: 4),
    Architecture(
        name="gen", module="gen",
        defaults={"dim": 96, "blocks": 4, "expand": 3, "kernel": 7, "band_weight": 1.0, "lr": 5e-4,
                  "decay": 0.0, "batch_size": 16, "adv_weight": 0.0, "fm_weight": 2.0, "disc_channels": 16},
        added={"adv_weight": 0.0, "fm_weight": 2.0, "disc_channels": 16},
        dataset={"input": "sinc", "encoding": "pcm"}, window_multiple=256, window_free=True,
        # Frames are streamed (superres.genstream); these two only matter to its Keras-window fallback.
        predict_window=SBR_WINDOW, hop=lambda window: window - min(SBR_OVERLAP, window // 4),
        inference_batch=lambda config: 1, runtimes=("keras", "onnx"), optimizer="adam", remade_inputs=True,
        frame_stream=True),
)}


def architecture(config_or_name):
    """The :class:`Architecture` of a model config (or of an architecture name)."""
    name = config_or_name if isinstance(config_or_name, str) else config_or_name.get("arch")
    if name not in ARCHITECTURES:
        raise UserError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]
