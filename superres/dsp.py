"""Signal processing for the prediction path, in numpy alone: the STFT and its overlap-add, FIR design,
streamed FIR filtering, running minimum and mean.

One STFT for the core, one convention: a periodic Hann window of the FFT's length, unnormalised spectra; the
inverse is a windowed overlap-add with a constant normalisation (the sum of the squared windows over the
frames that overlap anywhere inside the signal), as Keras's ``istft`` on TensorFlow computes it and
:func:`superres.models.spectral.istft` writes it for every backend (tested equal). The generator's stream
(:mod:`superres.genstream`), the ``sbr`` network's core (:mod:`superres.sbrcore`) and the metrics
(:mod:`superres.metrics`) use these; each frames its signal (centring, streaming) itself.

The prediction path must run without scipy (a light install leaves it out: it is a third of the whole), so
these are numpy equivalents of the few scipy functions it used, equal to them to float rounding:
:func:`kaiser_order` and :func:`kaiser_highpass` (``scipy.signal.kaiserord`` and ``firwin``),
:class:`FirStream` (``scipy.signal.oaconvolve`` over a stream), :func:`running_min` and
:func:`running_mean` (``scipy.ndimage.minimum_filter1d`` and ``uniform_filter1d`` with ``mode="nearest"``).
"""

import math

import numpy as np

_FFT = []


def load_fft():
    """The real FFT and its inverse the STFT uses, imported on first use (scipy's takes a quarter of a second
    to import: prediction loads it in a thread while ONNX Runtime loads the graph).

    scipy's transforms a batch of float32 frames 2.2 times faster than numpy's (it vectorises across rows): a
    sixth of the generator stream's work. The light install has no scipy and uses numpy's (the same transform,
    to float rounding: -100 dB on the output).
    """
    if not _FFT:
        try:
            from scipy.fft import irfft, rfft
        except ImportError:
            from numpy.fft import irfft, rfft
        _FFT[:] = [rfft, irfft]
    return _FFT


def hann(n, dtype=np.float32):
    """The periodic Hann window of ``n`` points (``torch.hann_window``, ``tf.signal.hann_window(periodic=True)``)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(dtype)


def synthesis_window(n, hop, dtype=np.float32):
    """:func:`hann` with the overlap-add's constant normalisation folded in: ``hann / (sum(hann^2) / hop)``."""
    w = hann(n, np.float64)
    return (w / (np.sum(w ** 2) / hop)).astype(dtype)


def spectra(padded, n_fft, hop, window):
    """The windowed spectra of the frames ``padded[..., t hop : t hop + n_fft]``, shape (..., frames, bins).

    Float32 in, complex64 out (complex128 for float64): single precision from scipy and numpy 2, and cast
    back from numpy 1's double (no copy otherwise).
    """
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
    out = load_fft()[0](frames * window, axis=-1)
    return out.astype(np.complex64, copy=False) if frames.dtype == np.float32 else out


def frames_of(spec, n_fft, window):
    """The windowed time frames of spectra (..., bins), to overlap-add: (..., n_fft), float32 for complex64."""
    out = load_fft()[1](spec, n=n_fft, axis=-1)
    out = out.astype(np.float32, copy=False) if spec.dtype == np.complex64 else out
    out *= window
    return out


def overlap_add(acc, frames, start, hop):
    """Add frames (..., K, n) into ``acc`` (..., samples) in place, frame k at sample ``start + k hop``.

    The one overlap-add of the package: the inverse STFT's and the windowed networks' crossfade
    (:class:`superres.windows.StreamUpsampler`). Each of the ``ceil(n / hop)`` hop-long pieces of every frame
    is added as one strided view, without a loop over frames or a temporary of the whole span; ``acc`` must
    reach ``start + (K - 1) hop + ceil(n / hop) hop``.
    """
    k, n = frames.shape[-2:]
    r = -(-n // hop)
    if r * hop != n:  # the last piece of each frame padded with zeros to a whole hop
        frames = np.concatenate([frames, np.zeros(frames.shape[:-1] + (r * hop - n,), frames.dtype)], axis=-1)
    parts = frames.reshape(frames.shape[:-2] + (k, r, hop))
    for j in range(r):
        view = acc[..., start + j * hop:start + (j + k) * hop]
        view.shape = view.shape[:-1] + (k, hop)  # a view of acc, or an error (never a silent copy)
        view += parts[..., j, :]


def kaiser_beta(atten):
    """The Kaiser window's ``beta`` for a stopband attenuation of ``atten`` dB (Oppenheim and Schafer, as
    ``scipy.signal.kaiser_beta``)."""
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def kaiser_order(ripple_db, width):
    """Taps and ``beta`` of a Kaiser-window FIR filter, as ``scipy.signal.kaiserord``.

    Parameters
    ----------
    ripple_db : float
        Stopband attenuation (and passband ripple), dB; at least 8.
    width : float
        Transition width as a share of the Nyquist frequency (0 .. 1).

    Returns
    -------
    taps : int
        Filter length (Kaiser's formula gives the order, one less).
    beta : float
    """
    atten = abs(ripple_db)
    if atten < 8:
        raise ValueError(f"attenuation {atten} dB is too small for Kaiser's formula (at least 8)")
    return int(math.ceil((atten - 7.95) / 2.285 / (np.pi * width) + 1)), kaiser_beta(atten)


def kaiser_highpass(taps, cutoff, beta, rate):
    """A linear-phase FIR highpass by the window method: ``firwin(taps, cutoff, window=("kaiser", beta),
    pass_zero=False, fs=rate)``.

    The ideal highpass (an impulse less a sinc lowpass) times a symmetric Kaiser window, scaled to a gain of
    exactly 1 at Nyquist, the middle of its passband.

    Parameters
    ----------
    taps : int
        Odd: an even-length highpass has a zero at Nyquist.
    cutoff : float
        Hz, the -6 dB point, inside ``0 .. rate / 2``.
    beta : float
        The Kaiser window's shape (:func:`kaiser_order`).
    rate : float
        Hz.

    Returns
    -------
    ndarray of float64, shape (taps,)
    """
    if taps % 2 == 0:
        raise ValueError(f"a highpass needs an odd number of taps, not {taps}")
    f = cutoff / (0.5 * rate)
    if not 0 < f < 1:
        raise ValueError(f"cutoff {cutoff} Hz is not inside 0 .. {rate / 2} Hz")
    m = np.arange(taps, dtype=np.float64) - 0.5 * (taps - 1)
    h = np.sinc(m) - f * np.sinc(f * m)
    h *= np.kaiser(taps, beta)
    return h / np.sum(h * np.cos(np.pi * m))


def fir_fft_size(taps):
    """The FFT size :class:`FirStream` uses for a filter of ``taps``: the power of two at least 8 times the
    overlap, so the ``taps - 1`` frames each FFT block spends on the overlap are at most an eighth of it.

    Measured on 441000 x 2 blocks with 455-1363 taps: 4 to 32 times the overlap run within 10% of each other
    (more FFTs of less waste against fewer, longer ones); 3 times is 30% slower.
    """
    return 1 << max(4, (8 * max(taps - 1, 1) - 1).bit_length())


class FirStream:
    """A FIR filter over a stream of blocks: ``y = h * x`` (full convolution), each block's output as it comes.

    Overlap-add with one FFT size (:func:`fir_fft_size`), so the filter's spectrum is computed once: each
    block is cut into pieces of ``fft_size - taps + 1`` frames, all filtered by one batched FFT, and the last
    ``taps - 1`` frames of their convolution (the part that belongs to the frames after the block) are carried
    to the next block. The output of frames ``0 .. n - 1`` is the full convolution's, whatever the blocks
    (one frame, shorter than the filter, any length); what is left at the end, :attr:`tail`, is the rest of it.

    Parameters
    ----------
    h : array_like, shape (taps,)
        The filter's taps.
    channels : int
        Each channel is filtered by ``h`` on its own.
    dtype : {numpy.float64, numpy.float32}
        The precision of the filtering and of its output. Single precision runs on :func:`load_fft`'s
        transform, 2.5 times faster than double (for a signal born in single precision, as the generated band).
    """

    def __init__(self, h, channels, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, not {self.dtype}")
        h = np.asarray(h, np.float64)
        if h.ndim != 1 or not h.shape[0]:
            raise ValueError(f"the filter must be a non-empty 1-D array, not of shape {h.shape}")
        self.taps, self.channels = h.shape[0], int(channels)
        self.fft_size = fir_fft_size(self.taps)
        self.step = self.fft_size - self.taps + 1  # input frames per FFT block
        # numpy's double transforms, where the tests hold them to 1e-12; scipy's (or numpy's) for single.
        self.rfft, self.irfft = (np.fft.rfft, np.fft.irfft) if self.dtype == np.float64 else load_fft()
        self.spectrum = self.rfft(h.astype(self.dtype), self.fft_size)
        # Channel-major: the FFTs then run over contiguous rows.
        self._tail = np.zeros((self.channels, self.taps - 1), self.dtype)

    @property
    def tail(self):
        """The convolution's frames after those returned so far, (taps - 1, channels): what the filter still
        holds of the frames pushed."""
        return self._tail.T.copy()

    def push(self, x):
        """Filter the next frames (n, channels) float; return the output for them, (n, channels) of
        :attr:`dtype`."""
        x = np.asarray(x, self.dtype)
        n = x.shape[0]
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"expected frames of shape (n, {self.channels}), not {x.shape}")
        if not n:
            return np.zeros((0, self.channels), self.dtype)
        size, step, over = self.fft_size, self.step, self.taps - 1
        blocks = -(-n // step)
        pieces = np.zeros((self.channels, blocks, step), self.dtype)
        pieces.reshape(self.channels, -1)[:, :n] = x.T
        spec = self.rfft(pieces, size, axis=-1)
        spec *= self.spectrum
        conv = self.irfft(spec, size, axis=-1)  # (channels, blocks, size): each piece's full convolution
        # Piece b's convolution covers frames b step .. b step + size - 1; its last ``over`` frames overlap
        # piece b + 1's first ones (step >= over: the FFT is at least twice the overlap).
        out = np.empty((self.channels, (blocks + 1) * step), self.dtype)
        out[:, :blocks * step].reshape(self.channels, blocks, step)[...] = conv[:, :, :step]
        out[:, blocks * step:] = 0.0
        out[:, step:].reshape(self.channels, blocks, step)[:, :, :over] += conv[:, :, step:]
        out[:, :over] += self._tail
        self._tail = out[:, n:n + over].copy()
        return out[:, :n].T


#: Frames per pass of the running filters: their two buffers (256 kB each) stay in the cache, and a long
#: input costs no fresh pages (measured 4x faster than one pass over a 441000-frame block in a new process).
_CHUNK = 32768


def _sliding(x, w, op):
    """``op`` over the ``2 w + 1`` frames centred on each frame of ``x`` (n,), the edges extended by their own
    values; ``op`` an associative ufunc (minimum, add).

    By doubling: windows of 1, 2, 4, ... frames, each ``op`` of two of the one before, then the window of
    ``2 w + 1`` from those of its binary digits, laid end to end. That is about ``log2(2 w + 1)`` operations
    on whole arrays, each vectorised (van Herk's prefix and suffix scans run element after element: measured
    2-4 times slower in numpy, and slower than scipy), and a sum is pairwise: its rounding is that of a few
    additions, where a running sum's grows with the signal.
    """
    x = np.asarray(x, np.float64)
    n, k = x.shape[0], 2 * w + 1
    out = np.empty(n)
    size = min(n, _CHUNK) + 2 * w
    cur, nxt = np.empty(size), np.empty(size)
    for c0 in range(0, n, _CHUNK):
        c1 = min(n, c0 + _CHUNK)
        m, lo, hi = c1 - c0 + 2 * w, c0 - w, c1 + w  # the frames the chunk's windows read
        left, right = max(0, -lo), max(0, hi - n)  # ... of them past the signal's edges
        cur[:left], cur[left:m - right], cur[m - right:m] = x[0], x[max(0, lo):min(n, hi)], x[-1]
        dst, span, off, first = out[c0:c1], 1, 0, True
        while True:  # cur[i]: op of the ``span`` frames from i
            if k & span:
                if first:
                    dst[...] = cur[off:off + c1 - c0]
                    first = False
                else:
                    op(dst, cur[off:off + c1 - c0], out=dst)
                off += span
            if 2 * span > k:
                break
            valid = m - 2 * span + 1
            op(cur[:valid], cur[span:span + valid], out=nxt[:valid])
            cur, nxt, span = nxt, cur, 2 * span
    return out


def running_min(x, w):
    """The minimum of the ``2 w + 1`` frames centred on each frame of ``x``, the edges extended by their values
    (``scipy.ndimage.minimum_filter1d(x, 2 w + 1, mode="nearest")``).

    Parameters
    ----------
    x : array_like, shape (n,)
    w : int
        Frames either side.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    return _sliding(x, int(w), np.minimum)


def running_mean(x, w):
    """The mean of the ``2 w + 1`` frames centred on each frame of ``x``, the edges extended by their values
    (``scipy.ndimage.uniform_filter1d(x, 2 w + 1, mode="nearest")``).

    Parameters
    ----------
    x : array_like, shape (n,)
    w : int
        Frames either side.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    out = _sliding(x, int(w), np.add)
    out /= 2 * int(w) + 1
    return out
