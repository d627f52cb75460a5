"""Training losses, in backend-agnostic Keras 3 (``keras.ops``).

- ``bilstm``: mean absolute error of the samples (the blog's loss).
- ``sbr``: multi-resolution STFT loss (spectral convergence plus log-magnitude distance at three STFT sizes,
  as in Parallel WaveGAN) plus a waveform L1 term. The spectral terms reward a top octave with the right
  energy in every band and frame; the waveform term penalises energy that is not in phase with the original,
  which holds the SNR near the sinc baseline's.
- ``gen``: :class:`TopBandLoss`, log-spectral distances on the top octave only, plus band-energy terms; no
  waveform term, whose minimum for a band whose phase cannot be predicted is an empty band.
- ``cgen``: :class:`CutoffBandLoss`, the same above each example's own cutoff, which the targets carry.
"""

import numpy as np

import keras
from keras import ops

from .archs import architecture
from .models.spectral import magnitude, stft

#: (FFT size, hop) of the spectral terms, at 44.1 kHz.
RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128))
#: Those of the top-band loss: the metrics' (2048) and a short one for transients (512). A third, between
#: them, cost 40% more training time on a CPU for no gain in either.
TOP_BAND_RESOLUTIONS = ((2048, 512), (512, 128))


@keras.saving.register_keras_serializable(package="superres")
class MultiResolutionSTFTLoss(keras.losses.Loss):
    """Mean over ``resolutions`` of spectral convergence + L1 of log magnitudes, plus ``wave_weight`` x MAE.

    Parameters
    ----------
    wave_weight : float
        Weight of the waveform MAE (samples as floats in [-1, 1)).
    resolutions : sequence of (int, int)
        STFT sizes and hops.

    Shapes: ``y_true``, ``y_pred`` (batch, samples, 1) or (batch, samples); the loss is per example.
    """

    def __init__(self, wave_weight=100.0, resolutions=RESOLUTIONS, name="mr_stft", **kwargs):
        super().__init__(name=name, **kwargs)
        self.wave_weight = float(wave_weight)
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def call(self, y_true, y_pred):
        if len(y_true.shape) == 3:
            y_true, y_pred = ops.squeeze(y_true, -1), ops.squeeze(y_pred, -1)
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        spectral = 0.0
        for n_fft, hop in self.resolutions:
            mt, mp = magnitude(y_true, n_fft, hop), magnitude(y_pred, n_fft, hop)
            # The epsilon keeps the gradient of sqrt finite where prediction and target agree exactly (digital
            # silence in, silence out).
            convergence = (ops.sqrt(ops.sum((mt - mp) ** 2, axis=(1, 2)) + 1e-12)
                           / ops.sqrt(ops.sum(mt ** 2, axis=(1, 2))))
            # 1e-5 (about -100 dB of a full-scale bin) keeps silent bins from dominating the log term.
            log_mag = ops.mean(ops.abs(ops.log(mt + 1e-5) - ops.log(mp + 1e-5)), axis=(1, 2))
            spectral = spectral + convergence + log_mag
        wave = ops.mean(ops.abs(y_true - y_pred), axis=-1)
        return spectral / len(self.resolutions) + self.wave_weight * wave

    def get_config(self):
        return {**super().get_config(), "wave_weight": self.wave_weight,
                "resolutions": [list(r) for r in self.resolutions]}


#: Lowest frequency the top-band loss scores, Hz: where the ``gen`` crossfade begins.
TOP_BAND_HZ = 10500.0
#: Bands of the band-energy terms over 10.5-22.05 kHz.
ENERGY_BANDS = 16


def _band_matrix(n_fft, lo):
    """0/1 matrix (bins from ``lo`` to n_fft/2, ENERGY_BANDS) that sums the power of each band."""
    bins = np.arange(lo, n_fft // 2 + 1)
    band = np.minimum((bins - lo) * ENERGY_BANDS // len(bins), ENERGY_BANDS - 1)
    return (band[:, None] == np.arange(ENERGY_BANDS)[None, :]).astype(np.float32)


@keras.saving.register_keras_serializable(package="superres")
class TopBandLoss(keras.losses.Loss):
    """Log-spectral loss on 10.5-22.05 kHz at two resolutions, plus band-energy terms.

    For each (FFT size, hop) of ``resolutions``, with ``d = log10(P_true + 1e-8) - log10(P_pred + 1e-8)`` over
    the top band's bins (P: STFT power, full scale 1.0): the log-spectral distance (RMS over bins, mean over
    frames; the metric's definition) plus the mean of ``|d|``. Then, at the first resolution, ``band_weight``
    times the mean ``|log10|`` ratio of the :data:`ENERGY_BANDS` band energies, per frame and over the whole
    example: the band's level in time and on average, which a per-bin log distance alone leaves about 1.6 dB
    low (the median of a noise-like band's power is below its mean).

    Shapes: ``y_true``, ``y_pred`` (batch, samples, 1) or (batch, samples); the loss is per example.
    """

    def __init__(self, band_weight=1.0, resolutions=TOP_BAND_RESOLUTIONS, name="top_band", **kwargs):
        super().__init__(name=name, **kwargs)
        self.band_weight = float(band_weight)
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def call(self, y_true, y_pred):
        if len(y_true.shape) == 3:
            y_true, y_pred = ops.squeeze(y_true, -1), ops.squeeze(y_pred, -1)
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        total = 0.0
        for i, (n_fft, hop) in enumerate(self.resolutions):
            lo = int(round(TOP_BAND_HZ * n_fft / 44100.0))
            pt, pp = (ops.sum(ops.stack(stft(y, n_fft, hop), 0)[..., lo:] ** 2, axis=0) for y in (y_true, y_pred))
            d = ops.log10(pt + 1e-8) - ops.log10(pp + 1e-8)
            total = total + ops.mean(ops.sqrt(ops.mean(d ** 2, axis=-1) + 1e-8), axis=-1) \
                + ops.mean(ops.abs(d), axis=(1, 2))
            if i == 0 and self.band_weight:
                total = total + self.band_weight * _band_energy_terms(pt, pp, ops.convert_to_tensor(
                    _band_matrix(n_fft, lo)))
        return total / len(self.resolutions)

    def get_config(self):
        return {**super().get_config(), "band_weight": self.band_weight,
                "resolutions": [list(r) for r in self.resolutions]}


def _band_energy_terms(pt, pp, m):
    """The band-energy terms of the top-band losses, per example: the mean ``|log10|`` ratio of the band energies
    (``m`` sums bins into bands: (bins, bands), or (batch, bins, bands)) per frame, plus that of their means over
    the example. ``pt``, ``pp``: power (batch, frames, bins) of the target and the output."""
    et, ep = ops.matmul(pt, m), ops.matmul(pp, m)
    per_frame = ops.mean(ops.abs(ops.log10(et + 1e-7) - ops.log10(ep + 1e-7)), axis=(1, 2))
    overall = ops.mean(ops.abs(ops.log10(ops.mean(et, 1) + 1e-8) - ops.log10(ops.mean(ep, 1) + 1e-8)), axis=-1)
    return per_frame + overall


@keras.saving.register_keras_serializable(package="superres")
class CutoffBandLoss(TopBandLoss):
    """:class:`TopBandLoss` above each example's cutoff: the band a ``cgen`` generator writes.

    ``y_true`` (batch, samples, 2): the original, and the cutoff in Hz that its input was made with (constant
    over the example; :class:`superres.loader.RemadeBatches` puts it there, since a Keras loss sees only the
    targets and the output). ``y_pred`` (batch, samples, 1). The scored bins start
    :data:`superres.bandplan.MERGE_BINS` bins below the cutoff, where the generator begins to write; the
    :data:`ENERGY_BANDS` band energies split that band into equal parts, per example.
    """

    def __init__(self, band_weight=1.0, resolutions=TOP_BAND_RESOLUTIONS, name="cutoff_band", **kwargs):
        super().__init__(band_weight, resolutions, name=name, **kwargs)

    def call(self, y_true, y_pred):
        from . import bandplan as bp

        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        lo_hz = (bp.cutoff_bin(y_true[:, 0, 1], ops) - bp.MERGE_BINS) * bp.BIN_HZ  # (batch,)
        y_true, y_pred = y_true[..., 0], ops.squeeze(y_pred, -1)
        total = 0.0
        for i, (n_fft, hop) in enumerate(self.resolutions):
            freqs = ops.convert_to_tensor(np.arange(n_fft // 2 + 1) * 44100.0 / n_fft, "float32")
            rel = freqs[None, :] - lo_hz[:, None]  # (batch, bins): Hz above the band's start
            mask = ops.cast(rel >= 0, "float32")
            pt, pp = (ops.sum(ops.stack(stft(y, n_fft, hop), 0) ** 2, axis=0) for y in (y_true, y_pred))
            d = (ops.log10(pt + 1e-8) - ops.log10(pp + 1e-8)) * mask[:, None, :]
            count = ops.sum(mask, axis=-1)[:, None]  # (batch, 1)
            total = total + ops.mean(ops.sqrt(ops.sum(d ** 2, axis=-1) / count + 1e-8), axis=-1) \
                + ops.mean(ops.sum(ops.abs(d), axis=-1) / count, axis=-1)
            if i == 0 and self.band_weight:
                width = (22050.0 - lo_hz)[:, None]
                band = ops.clip(ops.floor(rel / width * ENERGY_BANDS), 0, ENERGY_BANDS - 1)
                m = ops.one_hot(ops.cast(band, "int32"), ENERGY_BANDS) * mask[..., None]  # (batch, bins, bands)
                total = total + self.band_weight * _band_energy_terms(pt, pp, m)
        return total / len(self.resolutions)


@keras.saving.register_keras_serializable(package="superres")
def audio_mae(y_true, y_pred):
    """Mean absolute error of the samples when the targets carry more channels than the audio (``cgen``'s)."""
    return ops.mean(ops.abs(ops.cast(y_true[..., :1], "float32") - ops.cast(y_pred, "float32")))


def make_metric(config):
    """The validation MAE every run reports (``val_mae``), of the audio channel of the targets."""
    if architecture(config).any_cutoff:
        return keras.metrics.MeanMetricWrapper(audio_mae, name="mae")
    return "mae"


def make_loss(config):
    """The training loss of a model config (each architecture's module says which)."""
    return architecture(config).builder().loss(config)
