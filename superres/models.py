"""Network architectures, in backend-agnostic Keras 3 (``keras.layers`` only, no backend-specific ops).

Every builder takes the model config (a dict, saved as the model folder's ``config.json``) so that a model
folder alone is enough to rebuild its network.
"""

import keras
from keras import layers

from .runs import ARCHS


def build_bilstm(window=50, bits=16, units=300, dense=500, dense2=20):
    """The blog's network: bidirectional LSTMs over a window of bit-encoded samples.

    BiLSTM(units) -> Dense(dense, relu) per step -> BiLSTM(units) -> Dense(dense, relu) -> Dense(dense2, relu)
    -> Dense(1). Both LSTMs return sequences and the dense layers act on every step, so a window of
    ``window`` input steps gives ``window`` output samples (one per 44.1 kHz step). The LSTM arguments stay at
    their defaults (tanh, sigmoid, no recurrent dropout, not unrolled) so that the cuDNN kernel is used on GPU.

    Parameters
    ----------
    window : int
        Steps per window (44.1 kHz samples).
    bits : int
        Features per step (16 bits of the naive-upsampled sample).

    Returns
    -------
    keras.Model
        Input (batch, window, bits) float 0/1; output (batch, window, 1), the sample as float in [-1, 1).
    """
    inp = keras.Input((window, bits), name="bits")
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm_1")(inp)
    x = layers.TimeDistributed(layers.Dense(dense, activation="relu"), name="dense_1")(x)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm_2")(x)
    x = layers.Dense(dense, activation="relu", name="dense_2")(x)
    x = layers.Dense(dense2, activation="relu", name="dense_3")(x)
    out = layers.Dense(1, name="sample")(x)
    return keras.Model(inp, out, name="bilstm")


def build_model(config):
    """Build the network described by a model config dict (see :func:`superres.train.make_config`)."""
    arch = config["arch"]
    if arch == "bilstm":
        return build_bilstm(config["window"], config["bits"], config["units"], config["dense"], config["dense2"])
    raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")


def make_optimizer(lr=1e-4, decay=0.03):
    """RMSprop with Keras 2-style time decay: ``lr_t = lr / (1 + decay * step)``, step = batches seen.

    Keras 3 dropped the optimizers' ``decay`` argument; ``InverseTimeDecay`` with ``decay_steps=1`` is the
    same schedule, and its step counter is saved with the optimizer, so a resumed run continues the decay.
    """
    schedule = lr if not decay else keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)
    return keras.optimizers.RMSprop(learning_rate=schedule)
