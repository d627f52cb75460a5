"""Network architectures, in backend-agnostic Keras 3 (``keras.layers`` and ``keras.ops`` only).

One module per architecture (what each one is: :mod:`superres.archs`), each with ``build(config,
window=None)`` and ``loss(config)``; :mod:`superres.models.spectral` holds the spectral operations they
share. Every builder takes the model config (a dict, saved as the model folder's ``config.json``) so that a
model folder alone is enough to rebuild its network.

- :mod:`~superres.models.bilstm`: the blog's network, bidirectional LSTMs over 50-step windows.
- :mod:`~superres.models.sbr`: spectral band replication over sinc interpolation.
- :mod:`~superres.models.gen`: a ConvNeXt generator of the top octave over sinc interpolation.
- :mod:`~superres.models.cgen`: the same generator told the cutoff, for any cutoff from 4 to 20 kHz.
"""

import keras

from ..archs import architecture
# The architectures' modules, imported here so that their custom layers are registered before a saved
# model is loaded.
from .bilstm import Int16ToBits, build_bilstm, input_layers  # noqa: F401
from .cgen import CgenAnalysis, CgenSynthesis, build_cgen  # noqa: F401
from .gen import GenAnalysis, GenSynthesis, build_gen, build_core  # noqa: F401
from .sbr import SBR_FFT, SBR_HOP, SBR_LOW_BINS, SBRAnalysis, SBRSynthesis, build_sbr  # noqa: F401


def build_model(config, window=None):
    """Build the network described by a model config dict (see :func:`superres.runs.make_config`).

    ``window`` overrides the config's window where the architecture allows it (``window_free``).
    """
    return architecture(config).builder().build(config, window)


def inference_model(model, config, window=None):
    """The network as prediction runs it: input int16 windows (batch, window), output (batch, window, 1).

    Bit-encoded models get the bit decoding inside the graph, so prediction passes 2 bytes per sample rather
    than 16 (uint8) or 64 (float32). ``window`` rebuilds the network for longer windows with the same
    weights, for architectures whose weights do not depend on it (``sbr``).
    """
    if architecture(config).window_free and window and window != config["window"]:
        longer = build_model(config, window)
        longer.set_weights(model.get_weights())
        return longer
    if config["dataset"]["encoding"] != "bits":
        return model
    inp = keras.Input((config["window"],), dtype="int16", name="pcm")
    return keras.Model(inp, model(Int16ToBits(name="int16_to_bits")(inp)), name=f"{model.name}_int16")


def make_optimizer(lr=1e-4, decay=0.03, kind="rmsprop"):
    """RMSprop (the blog's) or Adam, with Keras 2-style time decay: ``lr_t = lr / (1 + decay * step)``.

    The step is the number of batches seen. Keras 3 dropped the optimizers' ``decay`` argument;
    ``InverseTimeDecay`` with ``decay_steps=1`` is the same schedule, and its step counter is saved with the
    optimizer, so a resumed run continues the decay. Adam (``kind="adam"``) clips each gradient's norm at 1:
    a convolutional generator's first steps on loud music can be large.
    """
    schedule = lr if not decay else keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=schedule, beta_1=0.8, beta_2=0.99, clipnorm=1.0)
    return keras.optimizers.RMSprop(learning_rate=schedule)
