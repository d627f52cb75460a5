"""16-bit binary encoding of samples, and cutting streams into fixed-length windows.

Bit encoding
------------
A 16-bit sample is encoded as a vector of 16 values in {0, 1}: the bits of its two's-complement
representation, most significant bit first. Index 0 is bit 15, which is the sign bit (1 for negative
samples); index 15 is bit 0. So ``0 -> 0000...0``, ``1 -> 0000...01``, ``-1 -> 1111...1``,
``-32768 -> 1000...0`` and ``32767 -> 0111...1``. The bits are stored as uint8 and fed to the network as
0.0/1.0.

Windows
-------
A stream of ``n`` samples is cut into windows of ``window`` consecutive steps starting every ``hop``
steps. The last window is zero-padded when the stream does not fill it, so every sample lies in at least
one window when ``hop <= window``.
"""

import numpy as np

BITS = 16
#: Bit weights in encoding order (MSB first).
_SHIFTS = np.arange(BITS - 1, -1, -1, dtype=np.uint16)


def int16_to_bits(x):
    """Encode int16 samples as bits.

    Parameters
    ----------
    x : ndarray of int16, shape (...)

    Returns
    -------
    ndarray of uint8, shape (..., 16)
        Two's-complement bits, most significant (sign) bit first.
    """
    u = np.asarray(x, dtype=np.int16).view(np.uint16)
    return ((u[..., None] >> _SHIFTS) & 1).astype(np.uint8)


def bits_to_int16(bits):
    """Decode bit vectors back to int16; inverse of :func:`int16_to_bits`.

    Parameters
    ----------
    bits : ndarray, shape (..., 16)
        Values in {0, 1}; anything >= 0.5 counts as 1, so network-style float bits decode too.
    """
    b = (np.asarray(bits) >= 0.5).astype(np.uint16)
    u = (b << _SHIFTS).sum(axis=-1, dtype=np.uint16)
    return u.view(np.int16)


def n_windows(n, window, hop):
    """Number of windows needed to cover ``n`` steps: ``ceil(max(n - window, 0) / hop) + 1`` (0 if n == 0)."""
    if n <= 0:
        return 0
    return -(-max(n - window, 0) // hop) + 1


def make_windows(x, window, hop):
    """Cut a stream into windows, zero-padding the end.

    Parameters
    ----------
    x : ndarray, shape (n, ...)
    window, hop : int
        Window length and step between window starts, in samples.

    Returns
    -------
    ndarray, shape (n_windows(n, window, hop), window, ...)
        A copy (not a strided view), safe to modify.
    """
    n = x.shape[0]
    k = n_windows(n, window, hop)
    total = (k - 1) * hop + window if k else 0
    padded = np.zeros((total,) + x.shape[1:], dtype=x.dtype)
    padded[:n] = x
    idx = np.arange(k)[:, None] * hop + np.arange(window)[None, :]
    return padded[idx]


def unwindow(windows, hop, n, weights=None):
    """Overlap-add windows back into a stream of ``n`` samples; inverse of :func:`make_windows`.

    Parameters
    ----------
    windows : ndarray, shape (k, window, ...)
    hop : int
    n : int
        Length of the stream to return (the padding added by :func:`make_windows` is dropped).
    weights : ndarray, shape (window,), optional
        Cross-fade weights for overlapping windows; each output sample is the weighted mean of the windows
        covering it. Default: equal weights. With ``hop == window`` this is plain concatenation.

    Returns
    -------
    ndarray, shape (n, ...), float64
    """
    from .dsp import overlap_add

    k, window = windows.shape[:2]
    if weights is None:
        weights = np.ones(window)
    r = -(-window // hop)
    total = max(k - 1 + r, 0) * hop
    frames = np.moveaxis(np.asarray(windows, np.float64), (0, 1), (-2, -1))  # (..., k, window)
    out = np.zeros(frames.shape[:-2] + (total,))
    norm = np.zeros(total)
    overlap_add(out, frames * weights, 0, hop)
    overlap_add(norm, np.broadcast_to(np.asarray(weights, np.float64), (k, window)), 0, hop)
    out = np.moveaxis(out, -1, 0)  # (total, ...)
    norm = np.where(norm > 0, norm, 1.0).reshape((total,) + (1,) * (windows.ndim - 2))
    return (out / norm)[:n]
