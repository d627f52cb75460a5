"""``sbr``: spectral band replication.

The input is the sinc-upsampled signal, which is exact below 11.025 kHz and empty above; the network adds
only the top octave. In the STFT domain (1024 points, hop 256) the 5.5-11 kHz band is copied up twice (to
11-16.5 and 16.5-22 kHz, as in the SBR of HE-AAC), whitened per band, and given the per-band energy envelope
that a small convolutional network predicts from the low band's log spectrum; the inverse STFT of that top
octave is added to the input.
"""

import keras
from keras import layers, ops

# The STFT and band plan are defined with the architecture (Keras-free: the command line checks --bands
# against them).
from ..archs import SBR_FFT, SBR_HOP, SBR_LOW_BINS, SBR_TOP_BINS  # noqa: F401 (SBR_LOW_BINS: re-exported)
from .spectral import istft, stft


@keras.saving.register_keras_serializable(package="superres")
class SBRAnalysis(layers.Layer):
    """STFT of the input: the source band for the copy-up and the low band's log power.

    Input (batch, window) float; outputs the real and imaginary parts of bins ``low/2 .. low`` (5.5-11 kHz),
    each (batch, frames, low/2), and log10 power of bins ``0 .. low`` (0-11 kHz), (batch, frames, low), with
    ``frames = window // hop + 1`` (centred frames).
    """

    def __init__(self, n_fft=SBR_FFT, hop=SBR_HOP, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.hop = n_fft, hop

    def call(self, x):
        low = self.n_fft // 4
        re, im = stft(x, self.n_fft, self.hop)
        power = re[..., :low] ** 2 + im[..., :low] ** 2
        # 1e-10 is far below the power of one 16-bit LSB in a bin, so digital silence maps to a constant.
        return re[..., low // 2:low], im[..., low // 2:low], ops.log10(power + 1e-10)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop": self.hop}


@keras.saving.register_keras_serializable(package="superres")
class SBRSynthesis(layers.Layer):
    """Copy the source band up twice, whiten it per band, apply the predicted envelope, add to the input.

    Inputs: the input signal (batch, window); the source band's real and imaginary parts (batch, frames,
    low/2); the envelope (batch, frames, bands), log10 of the mean power per bin of each of ``bands`` equal
    bands covering 11.025-22.05 kHz. Output (batch, window, 1): input plus the synthesised top octave.
    """

    def __init__(self, n_fft=SBR_FFT, hop=SBR_HOP, **kwargs):
        super().__init__(**kwargs)
        self.n_fft, self.hop = n_fft, hop

    def call(self, inputs):
        x, src_re, src_im, env = inputs
        low = self.n_fft // 4
        frames, bands = src_re.shape[1], env.shape[2]
        per = (self.n_fft // 2 - low) // bands
        # Shifts of low/2 and low bins are whole multiples of 2 pi per hop (hop = n_fft / 4), so the copied
        # bins stay phase-coherent from frame to frame: a clean frequency shift, not a smeared one.
        re = ops.concatenate([src_re, src_re], axis=-1)
        im = ops.concatenate([src_im, src_im], axis=-1)
        band_power = ops.mean(ops.reshape(re ** 2 + im ** 2, (-1, frames, bands, per)), axis=-1)
        target = ops.power(10.0, ops.clip(env, -12.0, 7.0))
        gain = ops.repeat(ops.sqrt(target / (band_power + 1e-10)), per, axis=-1)
        pad_low = ops.zeros_like(re[..., :1])
        zeros = ops.repeat(pad_low, low, axis=-1)
        full_re = ops.concatenate([zeros, re * gain, pad_low], axis=-1)  # bins 0..n_fft/2; Nyquist bin 0
        full_im = ops.concatenate([zeros, im * gain, pad_low], axis=-1)
        top = istft(full_re, full_im, self.n_fft, self.hop, x.shape[-1])
        return ops.expand_dims(x + top, -1)

    def get_config(self):
        return {**super().get_config(), "n_fft": self.n_fft, "hop": self.hop}


def build_sbr(window=8192, channels=64, bands=32, kernel=5):
    """Spectral band replication network (see the module docstring).

    Parameters
    ----------
    window : int
        Samples per example at 44.1 kHz, a multiple of the STFT hop (256). The weights do not depend on it, so
        prediction rebuilds the network with longer windows (:func:`with_window`).
    channels : int
        Width of the dense and convolutional layers.
    bands : int
        Envelope bands over 11.025-22.05 kHz (must divide 256 bins).
    kernel : int
        Convolution width in STFT frames (5.8 ms each) of the two temporal layers.

    Returns
    -------
    keras.Model
        Input (batch, window) int16, the sinc-upsampled signal; output (batch, window, 1) float in [-1, 1).
    """
    if window % SBR_HOP or SBR_TOP_BINS % bands:
        raise ValueError(f"window must be a multiple of {SBR_HOP} and bands divide {SBR_TOP_BINS}")
    inp = keras.Input((window,), dtype="int16", name="pcm")
    x = layers.Rescaling(1.0 / 32768.0, name="to_float")(inp)
    src_re, src_im, logp = SBRAnalysis(name="analysis")(x)
    # log10 power runs from -10 (silence) to about +5 (a full-scale sine): bring it near [-1, 2].
    h = layers.Rescaling(0.2, offset=1.0, name="scale_features")(logp)
    h = layers.Dense(channels, activation="relu", name="features")(h)
    h = layers.Conv1D(channels, kernel, padding="same", activation="relu", name="context_1")(h)
    h = layers.Conv1D(channels, kernel, padding="same", activation="relu", name="context_2")(h)
    # Start from a quiet, flat top octave (1e-4 power per bin: about -80 dB below a full-scale sine's bin),
    # so that training begins at the sinc baseline rather than from loud noise.
    env = layers.Dense(bands, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(-4.0),
                       name="envelope")(h)
    out = SBRSynthesis(name="synthesis")([x, src_re, src_im, env])
    return keras.Model(inp, out, name="sbr")


def build(config, window=None):
    """The network of an ``sbr`` model config; ``window`` rebuilds it for longer windows (same weights)."""
    return build_sbr(window or config["window"], config["channels"], config["bands"], config["kernel"])


def loss(config):
    """Multi-resolution STFT loss plus a waveform L1 term of weight ``wave_weight``."""
    from ..losses import MultiResolutionSTFTLoss

    return MultiResolutionSTFTLoss(config["wave_weight"])
