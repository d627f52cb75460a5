"""Spectral operations shared by the architectures and the losses, in backend-agnostic Keras 3.

One convention everywhere: periodic Hann window of the FFT's length, frames centred (the signal padded by
half a window on both sides), unnormalised.
"""

from keras import ops


def stft(x, n_fft, hop):
    """Real and imaginary parts of the STFT: (batch, samples) -> two (batch, frames, n_fft // 2 + 1)."""
    return ops.stft(x, n_fft, hop, n_fft, window="hann", center=True)


def istft(re, im, n_fft, hop, length):
    """Inverse of :func:`stft`: the signal (batch, length) from its STFT's real and imaginary parts."""
    return ops.istft((re, im), n_fft, hop, n_fft, length=length, window="hann", center=True)


def magnitude(x, n_fft, hop):
    """|STFT| with a floor that keeps the gradient of the square root finite on digital silence."""
    re, im = stft(x, n_fft, hop)
    return ops.sqrt(re ** 2 + im ** 2 + 1e-12)
