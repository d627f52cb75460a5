"""``gen``: a ConvNeXt generator of the top octave over sinc interpolation.

The input is the sinc-upsampled signal, exact below 11.025 kHz and empty above. Its STFT (1024 points, hop
256, :data:`superres.bandplan.FFT`) gives two things: the log power of the low band, the features a ConvNeXt
backbone reads frame by frame; and a phase-coherent copy of the 5-10.3 kHz band moved up by whole multiples
of 128 bins (:func:`superres.bandplan.source_bins`), the raw material of the top octave. The head predicts a
log gain for every top-band bin and frame, so the network shapes the fine structure of the band (its
harmonics, its envelope over time), not only a coarse per-band envelope. Between
:data:`superres.bandplan.MERGE_LO` (10.5 kHz) and 11.025 kHz, where resamplers roll off, the head's gains
apply to the input's own bins instead: an equaliser of the roll-off that keeps the original's phase. Below
10.5 kHz the output is the input plus only the inverse STFT's leakage (float rounding), so the low band is
the sinc interpolation.

The backbone (:func:`build_core`) is a network of frames only, features in and log gains out; the analysis
and synthesis around it are fixed operations, here in Keras (for training) and in numpy in
:mod:`superres.genstream` (for prediction, with the backbone on ONNX Runtime).
"""

import keras
import numpy as np
from keras import layers, ops

from .. import bandplan as bp
from .spectral import istft, stft


@keras.saving.register_keras_serializable(package="superres")
class GenAnalysis(layers.Layer):
    """STFT of the input: the backbone's features, the copied-up source band and the input's top bins.

    Input (batch, samples) float; outputs the features (batch, frames, :data:`~superres.bandplan.LOW_BINS`)
    (:func:`superres.bandplan.features` of the power), then the real and imaginary parts of the source bins
    and of the input's bins ``MERGE_LO..n_fft/2``, each (batch, frames, :data:`~superres.bandplan.TOP_BINS`),
    ``frames = samples // hop + 1``.
    """

    def call(self, x):
        re, im = stft(x, bp.FFT, bp.HOP)
        power = re[..., :bp.LOW_BINS] ** 2 + im[..., :bp.LOW_BINS] ** 2
        src = bp.source_bins()
        return (bp.features(power, ops), ops.take(re, src, axis=-1), ops.take(im, src, axis=-1),
                re[..., bp.MERGE_LO:], im[..., bp.MERGE_LO:])

    def compute_output_spec(self, x):
        # Given, not traced: a backend that traces with a stand-in length for an unknown one (PyTorch's is
        # 83 samples) cannot reflect-pad it by half a frame.
        batch, samples = x.shape
        frames = None if samples is None else samples // bp.HOP + 1
        spec = lambda bins: keras.KerasTensor((batch, frames, bins), dtype=self.compute_dtype)  # noqa: E731
        return (spec(bp.LOW_BINS),) + tuple(spec(bp.TOP_BINS) for _ in range(4))


@keras.saving.register_keras_serializable(package="superres")
class GenSynthesis(layers.Layer):
    """Apply the log gains to the source bins, replace the input's top bins with them, add the difference.

    Inputs: the signal (batch, samples); the source's and the input's top bins (four tensors of (batch,
    frames, TOP_BINS)); the log gains (batch, frames, TOP_BINS). Output (batch, samples, 1).
    """

    def call(self, inputs):
        x, src_re, src_im, in_re, in_im, log_gain = inputs
        offset = ops.convert_to_tensor(bp.log_gain_offset(), dtype=x.dtype)
        gain = ops.exp(ops.clip(log_gain + offset, bp.MIN_LOG_GAIN, bp.MAX_LOG_GAIN))
        return add_written_band(x, src_re * gain - in_re, src_im * gain - in_im, bp.MERGE_LO)

    def compute_output_spec(self, inputs):
        x = inputs[0]
        return keras.KerasTensor((*x.shape, 1), dtype=self.compute_dtype)


def add_written_band(x, d_re, d_im, lo):
    """The input plus the inverse STFT of what the generator writes: ``x`` (batch, samples) and the difference
    spectra of bins ``lo..FFT/2`` (batch, frames, bins) -> (batch, samples, 1); bins below ``lo`` are left as they
    are. Shared by ``gen``'s and ``cgen``'s synthesis."""
    below = ops.repeat(ops.zeros_like(d_re[..., :1]), lo, axis=-1)
    delta = istft(ops.concatenate([below, d_re], -1), ops.concatenate([below, d_im], -1), bp.FFT, bp.HOP,
                  x.shape[-1] if x.shape[-1] is not None else ops.shape(x)[-1])
    return ops.expand_dims(x + delta, -1)


def build_core(dim=96, blocks=4, expand=3, kernel=7, name="core", in_bins=bp.LOW_BINS, out_bins=bp.TOP_BINS):
    """The backbone: features (batch, frames, in_bins) -> log gains (batch, frames, out_bins) (``gen``'s: LOW_BINS
    in, TOP_BINS out; ``cgen``'s: every bin and its mask in, ANY_BINS out).

    ConvNeXt blocks over STFT frames (as in Vocos): a depthwise convolution of ``kernel`` frames, layer norm,
    a pointwise expansion by ``expand`` with GELU and back, added to the block's input. The receptive field
    is ``blocks * (kernel - 1) / 2`` frames either side (:func:`superres.bandplan.context_frames`). Layer
    names are what the ONNX export (:func:`superres.runtime.export_gen_core`) reads.
    """
    inp = keras.Input((None, in_bins), name="features")
    h = layers.Dense(dim, name="embed")(inp)
    h = layers.LayerNormalization(epsilon=1e-6, name="embed_norm")(h)
    for i in range(blocks):
        r = h
        h = layers.DepthwiseConv1D(kernel, padding="same", name=f"block{i}_dw")(h)
        h = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm")(h)
        h = layers.Dense(dim * expand, activation="gelu", name=f"block{i}_pw1")(h)
        # Small residual branches at first (the role of ConvNeXt's layer scale): the blocks start near identity.
        h = layers.Dense(dim, kernel_initializer=keras.initializers.VarianceScaling(0.02), name=f"block{i}_pw2")(h)
        h = layers.Add(name=f"block{i}_add")([r, h])
    h = layers.LayerNormalization(epsilon=1e-6, name="head_norm")(h)
    # Zero at first: with the band plan's offset (superres.bandplan.log_gain_offset) training begins at the
    # input with an SBR-like top octave 12 dB down, not from noise.
    out = layers.Dense(out_bins, kernel_initializer="zeros", name="log_gain")(h)
    return keras.Model(inp, out, name=name)


def build_gen(window=None, dim=96, blocks=4, expand=3, kernel=7):
    """The whole generator: sinc-upsampled float samples (batch, window) -> (batch, window, 1).

    ``window`` None accepts any length (prediction of a whole file); training uses its dataset's window.
    """
    inp = keras.Input((window,), name="sinc")
    feats, src_re, src_im, in_re, in_im = GenAnalysis(name="analysis")(inp)
    log_gain = build_core(dim, blocks, expand, kernel)(feats)
    out = GenSynthesis(name="synthesis")([inp, src_re, src_im, in_re, in_im, log_gain])
    return keras.Model(inp, out, name="gen")


def core_of(model):
    """The backbone sub-model of a built or loaded ``gen`` network."""
    return model.get_layer("core")


def build(config, window=None):
    """The network of a ``gen`` model config; ``window`` None or another length gives the same weights."""
    return build_gen(window or config["window"], config["dim"], config["blocks"], config["expand"],
                     config["kernel"])


def loss(config):
    """Spectral loss on the top octave only: no waveform term (see :class:`superres.losses.TopBandLoss`)."""
    from ..losses import TopBandLoss

    return TopBandLoss(config["band_weight"])


#: The features' and top bins' numbers, checked here once so that a changed band plan fails at import.
assert len(bp.source_bins()) == bp.TOP_BINS and np.all(bp.source_bins()[bp.LOW_BINS - bp.MERGE_LO:] < bp.MERGE_LO)
