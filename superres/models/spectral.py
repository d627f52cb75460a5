"""Spectral operations shared by the architectures and the losses, in backend-agnostic Keras 3.

One convention everywhere: periodic Hann window of the FFT's length, frames centred (the signal padded by
half a window on both sides), unnormalised.
"""

import numpy as np
from keras import ops


def stft(x, n_fft, hop):
    """Real and imaginary parts of the STFT: (batch, samples) -> two (batch, frames, n_fft // 2 + 1)."""
    return ops.stft(x, n_fft, hop, n_fft, window="hann", center=True)


def istft(re, im, n_fft, hop, length):
    """Inverse of :func:`stft`: the signal (batch, length) from its STFT's real and imaginary parts (batch,
    frames, n_fft // 2 + 1), ``hop`` dividing ``n_fft``.

    Windowed overlap-add with a constant normalisation (the sum of the squared windows over the ``n_fft /
    hop`` frames that overlap anywhere inside the signal), as TensorFlow's ``inverse_stft`` and so Keras's
    ``istft`` on that backend compute it, and :mod:`superres.genstream` in numpy. Written here rather than
    taken from ``keras.ops.istft`` because the backends differ there: PyTorch's divides by the window sums
    actually present, which differ in the first and last half frame, so a model would predict differently
    at a file's ends on each backend.
    """
    if n_fft % hop:
        raise ValueError(f"istft: the hop ({hop}) must divide the FFT length ({n_fft})")
    r = n_fft // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    window = (window / (np.sum(window ** 2) / hop)).astype("float32")
    frames = ops.irfft((re, im), n_fft) * ops.convert_to_tensor(window, dtype=re.dtype)  # (batch, F, n_fft)
    batch, count = ops.shape(frames)[0], ops.shape(frames)[1]
    pieces = ops.reshape(frames, (batch, count, r, hop))
    # Piece j of frame t lands on output block t + j: r shifted copies, summed.
    blocks = sum(ops.pad(pieces[:, :, j], ((0, 0), (j, r - 1 - j), (0, 0))) for j in range(r))
    out = ops.reshape(blocks, (batch, (count + r - 1) * hop))
    return out[:, n_fft // 2:n_fft // 2 + length]


def magnitude(x, n_fft, hop):
    """|STFT| with a floor that keeps the gradient of the square root finite on digital silence."""
    re, im = stft(x, n_fft, hop)
    return ops.sqrt(re ** 2 + im ** 2 + 1e-12)
