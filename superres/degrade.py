"""Training inputs made as users' files are made: many resamplers, not one.

A user's 22.05 kHz file may come from soxr at any quality, from a polyphase filter with some window, or from
a lowpass a little below 11.025 kHz. A generator trained on one resampler's roll-off leaves a gap or a seam
with another, so the ``gen`` architecture trains on inputs remade for every batch: each 44.1 kHz target
window is brought to 22.05 kHz by a randomly chosen :data:`METHODS` entry, rounded to 16 bits as a WAV
file would be, and sinc-upsampled back as prediction does (soxr VHQ, :func:`superres.audio.sinc_upsample`).

Signals are 1-D float arrays in [-1, 1) at 44.1 kHz (``window`` samples); rates in Hz.
"""

import numpy as np
import scipy.signal
import soxr

from .audio import HIGH_RATE, LOW_RATE

#: Ways to make the 22.05 kHz input: (name, weight). Weights are relative chances.
METHODS = (
    ("soxr-vhq", 3.0), ("soxr-hq", 2.0), ("soxr-mq", 1.0), ("soxr-lq", 0.5),
    ("poly-kaiser5", 1.0), ("poly-hann", 1.0), ("poly-blackman", 1.0),
    ("fir-low", 1.5),
)
#: Lowest cutoff of ``fir-low``, as a fraction of 11.025 kHz: a lowpass up to 10% below the Nyquist rate.
LOW_CUTOFF = 0.9


def downsample(y, method, rng):
    """``y`` (n,) at 44.1 kHz -> (n // 2,) float64 at 22.05 kHz by ``method`` (a :data:`METHODS` name)."""
    n = y.shape[0] // 2
    if method.startswith("soxr-"):
        out = soxr.resample(y, HIGH_RATE, LOW_RATE, quality=method[5:].upper())
    elif method.startswith("poly-"):
        window = {"kaiser5": ("kaiser", 5.0), "hann": "hann", "blackman": "blackman"}[method[5:]]
        out = scipy.signal.resample_poly(y, 1, 2, window=window)
    elif method == "fir-low":
        cutoff = rng.uniform(LOW_CUTOFF, 0.98)
        taps = scipy.signal.firwin(int(rng.choice([63, 127, 255])), cutoff * 0.5, window=("kaiser", 8.0))
        out = scipy.signal.fftconvolve(y, taps, mode="same")[::2]
    else:
        raise ValueError(f"unknown method {method!r}")
    out = np.asarray(out, dtype=np.float64)[:n]
    return np.pad(out, (0, n - out.shape[0]))


def remade_input(y, rng, method=None):
    """The network's input for target ``y`` (n,): downsampled, rounded to 16 bits, sinc-upsampled.

    ``method`` None draws one from :data:`METHODS` with ``rng``. Returns float32 (n,).
    """
    if method is None:
        names, weights = zip(*METHODS)
        method = names[rng.choice(len(names), p=np.asarray(weights) / sum(weights))]
    low = np.clip(np.round(downsample(y, method, rng) * 32768.0), -32768, 32767) / 32768.0
    up = soxr.resample(low, LOW_RATE, HIGH_RATE, quality="VHQ")[:y.shape[0]]
    return np.pad(up, (0, y.shape[0] - up.shape[0])).astype(np.float32)
