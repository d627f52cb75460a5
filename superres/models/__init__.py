"""Network architectures, in backend-agnostic Keras 3 (``keras.layers`` and ``keras.ops`` only).

One module per architecture (what each one is: :mod:`superres.archs`), each with ``build(config,
window=None)`` and ``loss(config)``; :mod:`superres.models.spectral` holds the spectral operations they
share. Every builder takes the model config (a dict, saved as the model folder's ``config.json``) so that a
model folder alone is enough to rebuild its network.

- :mod:`~superres.models.bilstm`: the blog's network, bidirectional LSTMs over 50-step windows.
- :mod:`~superres.models.sbr`: spectral band replication over sinc interpolation.
"""

import keras

from ..archs import architecture
# The architectures' modules, imported here so that their custom layers are registered before a saved
# model is loaded.
from .bilstm import Int16ToBits, build_bilstm, input_layers  # noqa: F401
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


def make_optimizer(lr=1e-4, decay=0.03):
    """RMSprop with Keras 2-style time decay: ``lr_t = lr / (1 + decay * step)``, step = batches seen.

    Keras 3 dropped the optimizers' ``decay`` argument; ``InverseTimeDecay`` with ``decay_steps=1`` is the
    same schedule, and its step counter is saved with the optimizer, so a resumed run continues the decay.
    """
    schedule = lr if not decay else keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
    return keras.optimizers.RMSprop(learning_rate=schedule)
