"""Training losses, in backend-agnostic Keras 3 (``keras.ops``).

- ``bilstm``: mean absolute error of the samples (the blog's loss).
- ``sbr``: multi-resolution STFT loss (spectral convergence plus log-magnitude distance at three STFT sizes,
  as in Parallel WaveGAN) plus a waveform L1 term. The spectral terms reward a top octave with the right
  energy in every band and frame; the waveform term penalises energy that is not in phase with the original,
  which holds the SNR near the sinc baseline's.
"""

import keras
from keras import ops

from .archs import architecture
from .models.spectral import magnitude

#: (FFT size, hop) of the spectral terms, at 44.1 kHz.
RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128))


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


def make_loss(config):
    """The training loss of a model config (each architecture's module says which)."""
    return architecture(config).builder().loss(config)
