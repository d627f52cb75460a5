"""``bilstm``: the blog's network, bidirectional LSTMs over 50-step windows of the upsampled signal."""

import keras
from keras import layers, ops


def input_layers(window, bits, encoding, dtype=None):
    """The model input in the dataset's stored dtype, and the float tensor the network starts from.

    The batches stay uint8 bits or int16 samples all the way into the graph (4 or 2 times less to copy than
    float32, and no conversion pass in Python); the cast happens in the first layer.

    Parameters
    ----------
    window : int
        Steps per window (44.1 kHz samples).
    bits : int
        Bits per step for ``encoding="bits"``.
    encoding : {"bits", "pcm"}
        ``bits``: uint8 0/1, shape (batch, window, bits); ``pcm``: int16 samples, shape (batch, window), scaled
        to [-1, 1) and given as one feature per step.
    dtype : str, optional
        Input dtype other than the stored one (the benchmark's float32 baseline).

    Returns
    -------
    inp : keras.KerasTensor
    x : keras.KerasTensor
        float32, shape (batch, window, features).
    """
    if encoding == "bits":
        inp = keras.Input((window, bits), dtype=dtype or "uint8", name="bits")
        return inp, layers.Rescaling(1.0, name="to_float")(inp)
    if encoding == "pcm":
        inp = keras.Input((window,), dtype=dtype or "int16", name="pcm")
        x = layers.Rescaling(1.0 / 32768.0, name="to_float")(inp)
        return inp, layers.Reshape((window, 1), name="one_feature")(x)
    raise ValueError(f"unknown input encoding {encoding!r}")


def build_bilstm(window=50, bits=16, units=300, dense=500, dense2=20, encoding="bits", input_dtype=None):
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
        Features per step (16 bits of the upsampled sample).
    encoding : {"bits", "pcm"}
        The blog's bit vectors, or the plain sample value as one float feature (see :func:`input_layers`).

    Returns
    -------
    keras.Model
        Input as :func:`input_layers`; output (batch, window, 1), the sample as float in [-1, 1).
    """
    inp, x = input_layers(window, bits, encoding, input_dtype)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm_1")(x)
    x = layers.TimeDistributed(layers.Dense(dense, activation="relu"), name="dense_1")(x)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm_2")(x)
    x = layers.Dense(dense, activation="relu", name="dense_2")(x)
    x = layers.Dense(dense2, activation="relu", name="dense_3")(x)
    out = layers.Dense(1, name="sample")(x)
    return keras.Model(inp, out, name="bilstm")


@keras.saving.register_keras_serializable(package="superres")
class Int16ToBits(layers.Layer):
    """int16 samples (..., n) -> their 16 bits, MSB first, uint8 (..., n, 16), decoded inside the graph.

    The same code as :func:`superres.encoding.int16_to_bits`: arithmetic right shifts of the sign-extended
    sample, so negative samples give their two's-complement bits.
    """

    def call(self, x):
        shifts = ops.arange(15, -1, -1, dtype="int32")
        bits = ops.bitwise_and(ops.right_shift(ops.expand_dims(ops.cast(x, "int32"), -1), shifts), 1)
        return ops.cast(bits, "uint8")


def build(config, window=None):
    """The network of a ``bilstm`` model config (its weights depend on the window: ``window`` is ignored)."""
    return build_bilstm(config["window"], config["bits"], config["units"], config["dense"], config["dense2"],
                        config["dataset"]["encoding"])


def loss(config):
    """Mean absolute error of the samples, the blog's loss."""
    return "mae"
