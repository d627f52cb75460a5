"""Discriminators for the adversarial fine-tune of ``gen``, in backend-agnostic Keras 3.

A multi-resolution STFT discriminator of the top octave only (as the multi-resolution discriminators of
UnivNet, Vocos and AP-BWE, restricted to the band the generator writes): for each resolution, the log
magnitude of the bins from 10.5 kHz up is an image (frames x bins) that a small 2-D convolutional network
scores patch by patch. The band below is the input's sinc interpolation in every output, so judging it would
only add noise to the gradients.
"""

import keras
from keras import layers, ops

from .spectral import stft

#: (FFT size, hop) of the discriminator's resolutions.
DISC_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
#: Lowest frequency the discriminators see, Hz.
DISC_LOW_HZ = 10500.0


@keras.saving.register_keras_serializable(package="superres")
class TopBandLogMagnitude(layers.Layer):
    """(batch, samples) -> (batch, frames, bins, 1): log10 |STFT| of the bins from ``low_hz`` up."""

    def __init__(self, n_fft, hop, low_hz=DISC_LOW_HZ, rate=44100, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.hop, self.low_hz, self.rate = n_fft, hop, low_hz, rate

    def call(self, x):
        lo = int(round(self.low_hz * self.n_fft / self.rate))
        re, im = stft(x, self.n_fft, self.hop)
        mag = ops.sqrt(re[..., lo:] ** 2 + im[..., lo:] ** 2 + 1e-10)
        return ops.expand_dims(0.5 * ops.log10(mag + 1e-5) + 1.0, -1)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop": self.hop, "low_hz": self.low_hz,
                "rate": self.rate}


def build_discriminator(channels=16, resolutions=DISC_RESOLUTIONS, window=None, low_hz=DISC_LOW_HZ):
    """The multi-resolution top-band discriminator.

    Parameters
    ----------
    channels : int
        Width of its convolutions.
    resolutions : sequence of (int, int)
    window : int, optional
        Samples per example (None: any).
    low_hz : float
        The lowest frequency it sees, Hz (``gen``: 10.5 kHz, where it begins to write).

    Returns
    -------
    keras.Model
        Input (batch, window) float samples; outputs, per resolution, its hidden feature maps (for feature
        matching) followed by its score map (batch, frames', bins', 1): a flat list, ``layers_per_resolution``
        tensors per resolution.
    """
    inp = keras.Input((window,), name="audio")
    outputs = []
    for n_fft, hop in resolutions:
        h = TopBandLogMagnitude(n_fft, hop, low_hz, name=f"logmag_{n_fft}")(inp)
        for j, (kernel, strides) in enumerate((((3, 9), (1, 1)), ((3, 9), (1, 2)), ((3, 9), (1, 2)),
                                               ((3, 3), (1, 1)))):
            h = layers.Conv2D(channels, kernel, strides=strides, padding="same", name=f"d{n_fft}_conv{j}")(h)
            h = layers.LeakyReLU(0.1, name=f"d{n_fft}_act{j}")(h)
            outputs.append(h)
        outputs.append(layers.Conv2D(1, (3, 3), padding="same", name=f"d{n_fft}_score")(h))
    return keras.Model(inp, outputs, name="discriminator")


#: Tensors per resolution in :func:`build_discriminator`'s outputs: 4 feature maps, then the score.
LAYERS_PER_RESOLUTION = 5
