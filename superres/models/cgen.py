"""``cgen``: the generator of :mod:`superres.models.gen`, told the cutoff, for any cutoff from 4 to 20 kHz.

The input is a 44.1 kHz signal whose band ends at a cutoff (a 15 kHz file sinc-interpolated, an MP3 decoded, a
22.05 kHz file upsampled) and that cutoff in Hz, which the bandwidth detection measures
(:mod:`superres.bandwidth`). The band plan is ``gen``'s, placed at the cutoff (:func:`superres.bandplan.any_plan`):
the same STFT, a phase-coherent copy of the band below the cutoff moved up by whole multiples of
:data:`~superres.bandplan.SHIFT_STEP` bins (the shift nearest half the source's top: the octave below the cutoff,
SBR's choice), re-weighted bins over the roll-off just below the cutoff, and the input untouched below that.

The backbone is ``gen``'s (:func:`superres.models.gen.build_core`) reading every bin's log power, silenced
above the cutoff, and a mask of the missing bins (:func:`superres.bandplan.any_features`): the mask tells it
where the band ends, the power below tells it what the music there is. It writes a log gain for every bin from
:data:`~superres.bandplan.ANY_LO` up; those below the cutoff's merge zone are not used.
"""

import keras
from keras import layers, ops

from .. import bandplan as bp
from .gen import GenSynthesis, add_written_band, build_core, core_of  # noqa: F401  (core_of: the same sub-model)
from .spectral import stft


def _cutoff_bins(cutoff):
    """Cutoff bins (batch,) float32 from cutoffs (batch, 1) in Hz (:func:`superres.bandplan.cutoff_bin`)."""
    return bp.cutoff_bin(ops.cast(cutoff[:, 0], "float32"), ops)


@keras.saving.register_keras_serializable(package="superres")
class CgenAnalysis(layers.Layer):
    """STFT of the input, the backbone's features for the cutoff, the source bins and the input's written bins.

    Inputs: the signal (batch, samples) and the cutoff (batch, 1), Hz. Outputs the features (batch, frames,
    2 ALL_BINS), then the real and imaginary parts of the source bins and of the input's bins ``ANY_LO..FFT/2``,
    each (batch, frames, ANY_BINS), ``frames = samples // hop + 1``.
    """

    def call(self, inputs):
        x, cutoff = inputs
        kc = _cutoff_bins(cutoff)
        re, im = stft(x, bp.FFT, bp.HOP)
        feats = bp.any_features(re ** 2 + im ** 2, kc, ops)
        source, _, _ = bp.any_plan(kc, ops)
        shape = ops.shape(re[..., bp.ANY_LO:])
        index = ops.broadcast_to(ops.expand_dims(source, 1), shape)
        return (feats, ops.take_along_axis(re, index, axis=-1), ops.take_along_axis(im, index, axis=-1),
                re[..., bp.ANY_LO:], im[..., bp.ANY_LO:])

    def compute_output_spec(self, inputs):
        batch, samples = inputs[0].shape
        frames = None if samples is None else samples // bp.HOP + 1
        spec = lambda bins: keras.KerasTensor((batch, frames, bins), dtype=self.compute_dtype)  # noqa: E731
        return (spec(2 * bp.ALL_BINS),) + tuple(spec(bp.ANY_BINS) for _ in range(4))


@keras.saving.register_keras_serializable(package="superres")
class CgenSynthesis(GenSynthesis):
    """Apply the log gains to the source bins over the written bins, add the difference to the input.

    Inputs: the signal (batch, samples), the cutoff (batch, 1), the source's and the input's bins (four tensors
    (batch, frames, ANY_BINS)), the log gains (batch, frames, ANY_BINS). Output (batch, samples, 1).
    """

    def call(self, inputs):
        x, cutoff, src_re, src_im, in_re, in_im, log_gain = inputs
        _, written, offset = bp.any_plan(_cutoff_bins(cutoff), ops)
        written, offset = ops.expand_dims(written, 1), ops.expand_dims(offset, 1)
        gain = ops.exp(ops.clip(log_gain + offset, bp.MIN_LOG_GAIN, bp.MAX_LOG_GAIN))
        return add_written_band(x, (src_re * gain - in_re) * written, (src_im * gain - in_im) * written, bp.ANY_LO)


def build_cgen(window=None, dim=96, blocks=4, expand=3, kernel=7):
    """The whole generator: (signal (batch, window) float at 44.1 kHz, cutoff (batch, 1) Hz) -> (batch, window, 1).

    ``window`` None accepts any length (prediction of a whole file); training uses its dataset's window.
    """
    sig = keras.Input((window,), name="signal")
    cutoff = keras.Input((1,), name="cutoff")
    feats, src_re, src_im, in_re, in_im = CgenAnalysis(name="analysis")([sig, cutoff])
    log_gain = build_core(dim, blocks, expand, kernel, in_bins=2 * bp.ALL_BINS, out_bins=bp.ANY_BINS)(feats)
    out = CgenSynthesis(name="synthesis")([sig, cutoff, src_re, src_im, in_re, in_im, log_gain])
    return keras.Model([sig, cutoff], out, name="cgen")


def build(config, window=None):
    """The network of a ``cgen`` model config; ``window`` None or another length gives the same weights."""
    return build_cgen(window or config["window"], config["dim"], config["blocks"], config["expand"],
                      config["kernel"])


def loss(config):
    """Spectral loss above each example's cutoff (:class:`superres.losses.CutoffBandLoss`)."""
    from ..losses import CutoffBandLoss

    return CutoffBandLoss(config["band_weight"])
