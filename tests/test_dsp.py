"""The numpy signal processing of the prediction path (:mod:`superres.dsp`) against scipy, its reference."""

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from superres import dsp
from superres.splice import (HEADROOM_FRAMES, MIN_TRANSITION_HZ, STOPBAND_DB, TRANSITION, BandSplice, Headroom,
                             highpass)

RATES = [16000, 22050, 32000, 44100, 48000]
CUTOFFS = [4000.0, 5512.5, 7500.0, 11025.0, 15000.0, 16000.0, 19000.0, 20000.0]


@pytest.mark.parametrize("atten", [8.0, 21.0, 30.0, 50.0, 65.0, 130.0])
@pytest.mark.parametrize("width", [0.0125, 0.02, 0.1])
def test_kaiser_order_is_scipys(atten, width):
    assert dsp.kaiser_order(atten, width) == scipy.signal.kaiserord(atten, width)
    assert dsp.kaiser_order(-atten, width) == scipy.signal.kaiserord(-atten, width)


def test_kaiser_order_refuses_a_small_attenuation():
    with pytest.raises(ValueError):
        dsp.kaiser_order(7.9, 0.1)


@pytest.mark.parametrize("rate", RATES)
def test_highpass_taps_are_scipys(rate):
    checked = 0
    for cutoff in CUTOFFS:
        if cutoff >= rate / 2:
            continue
        width = max(MIN_TRANSITION_HZ, TRANSITION * cutoff)
        taps, beta = scipy.signal.kaiserord(STOPBAND_DB, width / (rate / 2))
        taps += 1 - taps % 2
        ref = scipy.signal.firwin(taps, cutoff - width / 2, window=("kaiser", beta), pass_zero=False, fs=rate)
        h = highpass(rate, cutoff)
        assert h.shape == ref.shape and h.dtype == np.float64
        np.testing.assert_allclose(h, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("taps,cutoff,beta,rate", [(31, 3000.0, 0.0, 16000), (101, 0.3, 5.0, 2.0),
                                                   (1, 100.0, 8.0, 1000), (255, 18000.0, 12.0, 44100)])
def test_kaiser_highpass_is_firwins(taps, cutoff, beta, rate):
    ref = scipy.signal.firwin(taps, cutoff, window=("kaiser", beta), pass_zero=False, fs=rate)
    np.testing.assert_allclose(dsp.kaiser_highpass(taps, cutoff, beta, rate), ref, rtol=0, atol=1e-13)


def test_kaiser_highpass_refuses_even_taps_and_cutoffs_outside_the_band():
    for args in [(32, 3000.0, 5.0, 16000), (31, 8000.0, 5.0, 16000), (31, 0.0, 5.0, 16000)]:
        with pytest.raises(ValueError):
            dsp.kaiser_highpass(*args)


def _stream(fir, x, sizes):
    """``fir`` over ``x`` cut into blocks of ``sizes`` (cycled) -> the joined output and its tail."""
    out, a, i = [], 0, 0
    while a < x.shape[0]:
        b = min(x.shape[0], a + sizes[i % len(sizes)])
        y = fir.push(x[a:b])
        assert y.shape == (b - a, x.shape[1])
        out.append(y)
        a, i = b, i + 1
    return np.concatenate(out), fir.tail


@pytest.mark.parametrize("sizes", [[20000], [1], [7, 1, 300], [852, 853, 854], [100, 5000, 1, 2, 60000],
                                   [30000, 1]])
def test_fir_stream_is_the_full_convolution_whatever_the_blocks(sizes):
    rng = np.random.default_rng(len(sizes) + sizes[0])
    h = highpass(44100, 11025.0)  # 853 taps
    # One frame at a time costs an FFT a frame: 4000 frames, over four times the filter's length.
    x = rng.standard_normal((4000 if sizes == [1] else 70000, 2))
    ref = np.stack([np.convolve(x[:, c], h) for c in range(2)], axis=1)
    y, tail = _stream(dsp.FirStream(h, 2), x, sizes)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(y, ref[:x.shape[0]], rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(tail, ref[x.shape[0]:], rtol=0, atol=1e-12 * scale)


def test_fir_stream_equals_oaconvolve_on_a_long_block():
    rng = np.random.default_rng(1)
    h = highpass(48000, 4000.0)  # the longest filter the cutoffs give, 1363 taps
    x = rng.standard_normal((441000, 2))
    fir = dsp.FirStream(h, 2)
    ref = scipy.signal.oaconvolve(x, h[:, None], axes=0)
    y = fir.push(x)
    np.testing.assert_allclose(y, ref[:x.shape[0]], rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(fir.tail, ref[x.shape[0]:], rtol=0, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("taps", [1, 2, 3, 16, 17, 100])
def test_fir_stream_short_filters(taps):
    rng = np.random.default_rng(taps)
    h, x = rng.standard_normal(taps), rng.standard_normal((500, 3))
    ref = np.stack([np.convolve(x[:, c], h) for c in range(3)], axis=1)
    y, tail = _stream(dsp.FirStream(h, 3), x, [1, 13, 2, 150])
    np.testing.assert_allclose(y, ref[:500], rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(tail, ref[500:], rtol=0, atol=1e-12 * np.abs(ref).max())


def test_fir_stream_empty_block_and_wrong_shape():
    fir = dsp.FirStream(np.ones(5), 2)
    assert fir.push(np.zeros((0, 2))).shape == (0, 2)
    np.testing.assert_array_equal(fir.tail, np.zeros((4, 2)))
    with pytest.raises(ValueError):
        fir.push(np.zeros((10, 3)))
    with pytest.raises(ValueError):
        dsp.FirStream(np.zeros(0), 2)


def test_fir_fft_size_leaves_the_overlap_at_most_an_eighth():
    for taps in [1, 2, 455, 853, 1251, 1363, 5000]:
        size = dsp.fir_fft_size(taps)
        assert size & (size - 1) == 0 and size >= 8 * (taps - 1) and size < 16 * max(taps - 1, 2)


def _band_splice_reference(rate, cutoff, real, gen, sizes):
    """BandSplice's stream as it was with scipy: ``oaconvolve`` per block and the tail carried by hand."""

    class Reference(BandSplice):
        def __init__(self, *args):
            super().__init__(*args)
            self.state = np.zeros((self.h.shape[0] - 1, self.channels))

        def _filter(self, d):
            if not d.shape[0]:
                return
            c = scipy.signal.oaconvolve(d, self.h[:, None], axes=0)
            c[:self.state.shape[0]] += self.state
            self.state = c[d.shape[0]:]
            out = c[:d.shape[0]]
            drop = min(self.skip, out.shape[0])
            self.skip -= drop
            self.conv = np.concatenate([self.conv, out[drop:]])

    return _splice(Reference(rate, cutoff, real.shape[1], real.shape[0]), real, gen, sizes)


def _splice(splice, real, gen, sizes):
    out, a, i = [], 0, 0
    while a < real.shape[0]:
        b = min(real.shape[0], a + sizes[i % len(sizes)])
        out.append(splice.push(real[a:b], gen[a:b]))
        a, i = b, i + 1
    return np.concatenate(out)


@pytest.mark.parametrize("sizes", [[44100], [300, 1, 5000], [600, 601, 602]])
def test_band_splice_is_unchanged(sizes):
    rng = np.random.default_rng(sizes[0])
    real, gen = rng.standard_normal((2, 30000, 2)) * 0.3
    ref = _band_splice_reference(44100, 11025.0, real, gen, sizes)
    y = _splice(BandSplice(44100, 11025.0, 2, real.shape[0]), real, gen, sizes)
    assert y.shape == ref.shape == real.shape
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("n", [1, 2, 5, 64, 128, 129, 130, 257, 1000, 20000])
@pytest.mark.parametrize("w", [0, 1, 3, HEADROOM_FRAMES])
def test_running_min_and_mean_are_scipy_ndimages(n, w):
    rng = np.random.default_rng(n * 100 + w)
    x = rng.random(n)
    x[rng.random(n) < 0.5] = 1.0  # runs of ones, as the needed gains have
    k = 2 * w + 1
    np.testing.assert_array_equal(dsp.running_min(x, w), scipy.ndimage.minimum_filter1d(x, k, mode="nearest"))
    np.testing.assert_allclose(dsp.running_mean(x, w), scipy.ndimage.uniform_filter1d(x, k, mode="nearest"),
                               rtol=0, atol=1e-12)


def test_running_min_and_mean_at_the_edges():
    x = np.r_[0.2, np.ones(10), 0.5]
    w = 3
    m = dsp.running_min(x, w)
    np.testing.assert_array_equal(m, np.r_[[0.2] * 4, np.ones(4), [0.5] * 4])
    # The first frame's window is x[0] four times (three of them the edge's extension) and x[1..3].
    assert dsp.running_mean(x, w)[0] == pytest.approx((4 * 0.2 + 3) / 7, abs=1e-15)
    assert dsp.running_mean(x, w)[-1] == pytest.approx((4 * 0.5 + 3) / 7, abs=1e-15)
    assert dsp.running_min(np.zeros(0), w).shape == dsp.running_mean(np.zeros(0), w).shape == (0,)


def _gains_reference(need, ready, w):
    """``Headroom._gains`` as it was with scipy: the filters span by span."""
    k, hot = 2 * w + 1, np.flatnonzero(need < 1.0)
    if not hot.size:
        return np.zeros(0, np.intp), np.zeros(0)
    cut = np.flatnonzero(np.diff(hot) > 8 * w)
    frames, gains = [], []
    for a, b in zip(np.r_[hot[0], hot[cut + 1]], np.r_[hot[cut], hot[-1]]):
        lo, hi = max(0, a - 4 * w), min(need.shape[0], b + 4 * w + 1)
        g = scipy.ndimage.uniform_filter1d(scipy.ndimage.minimum_filter1d(need[lo:hi], k, mode="nearest"), k,
                                           mode="nearest")
        at = np.arange(lo, hi) - 2 * w
        keep = (at >= 0) & (at < ready) & (g < 1.0)
        frames.append(at[keep])
        gains.append(np.clip(g[keep], 0.0, 1.0))
    return np.concatenate(frames), np.concatenate(gains)


@pytest.mark.parametrize("seed", range(6))
def test_headroom_gains_are_scipys(seed):
    """Groups of needed gains at the edges, close together (just over 8 w apart: spans that touch) and apart."""
    rng = np.random.default_rng(seed)
    w = HEADROOM_FRAMES
    need = np.ones(20000 + 4 * w)
    hot = np.r_[0, 3, rng.integers(0, need.shape[0], 40), 5000, 5000 + 8 * w + 1, need.shape[0] - 1]
    need[hot] = rng.random(hot.shape[0]) * (seed % 3 != 0)  # a third of the cases: zeros (real past the ceiling)
    ready = need.shape[0] - 2 * w * (seed % 2)
    # As the gain of every output frame: scipy's running sum leaves some gains of 1 at 1 - 1e-16, which it
    # then lists among those below 1.
    dense, ref = np.ones(ready), np.ones(ready)
    frames, gains = Headroom(2, width=w)._gains(need, ready)
    dense[frames] = gains
    ref_frames, ref_gains = _gains_reference(need, ready, w)
    ref[ref_frames] = ref_gains
    assert np.unique(frames).size == frames.size and np.all(gains < 1.0) and np.sum(ref < 1 - 1e-9) > 1000
    np.testing.assert_allclose(dense, ref, rtol=0, atol=1e-12)
    assert np.array_equal(np.flatnonzero(ref < 1 - 1e-12), np.flatnonzero(dense < 1 - 1e-12))


@pytest.mark.parametrize("n_fft, hop", [(2048, 512), (1024, 256)])
def test_the_keras_stft_pair_equals_the_cores(n_fft, hop):
    """Training's STFT and inverse STFT (superres.models.spectral, Keras) compute what the core's do."""
    from superres.dsp import frames_of, hann, overlap_add, spectra, synthesis_window
    from superres.models.spectral import istft, stft

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5 * n_fft + 37)).astype(np.float32)
    re, im = (np.asarray(a) for a in stft(x, n_fft, hop))
    ref = spectra(np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect"), n_fft, hop, hann(n_fft))
    scale = np.abs(ref).max()
    np.testing.assert_allclose(re + 1j * im, ref, atol=2e-5 * scale)
    spec = (rng.standard_normal(ref.shape) + 1j * rng.standard_normal(ref.shape)).astype(np.complex64)
    spec[..., 0] = spec[..., 0].real  # a real signal's DC and Nyquist bins are real
    spec[..., -1] = spec[..., -1].real
    length = x.shape[1]
    want = np.asarray(istft(spec.real, spec.imag, n_fft, hop, length))
    frames = spec.shape[1]
    acc = np.zeros((2, (frames - 1) * hop + n_fft), np.float32)
    overlap_add(acc, frames_of(spec, n_fft, synthesis_window(n_fft, hop)), 0, hop)
    np.testing.assert_allclose(acc[:, n_fft // 2:n_fft // 2 + length], want, atol=2e-5 * np.abs(want).max())


def test_fir_stream_in_single_precision_is_the_double_one_to_float32_rounding():
    h = highpass(44100, 11025.0)
    x = np.random.default_rng(4).standard_normal((20000, 2)) * 0.1
    sizes = [7000, 1, 5000, 7999]
    y64, tail64 = _stream(dsp.FirStream(h, 2), x, sizes)
    y32, tail32 = _stream(dsp.FirStream(h, 2, np.float32), x, sizes)
    assert y32.dtype == np.float32 and y32.shape == y64.shape
    scale = np.abs(y64).max()
    assert np.abs(y32 - y64).max() < 1e-6 * scale
    assert np.abs(tail32 - tail64).max() < 1e-6 * scale
    with pytest.raises(ValueError):
        dsp.FirStream(h, 2, np.int16)


def test_band_splice_in_single_precision_keeps_the_real_band():
    """The added band filtered in float32: below the transition the output is the real band to within the
    stopband, as in double precision."""
    rng = np.random.default_rng(5)
    real, added = rng.standard_normal((2, 44100, 2)) * 0.3
    splice = BandSplice(44100, 11025.0, 2, real.shape[0], dtype=np.float32)
    y = np.concatenate([splice.push_added(real[a:a + 5000], added[a:a + 5000].astype(np.float32))
                        for a in range(0, 44100, 5000)])
    inner = slice(2000, -2000)  # away from the file's mirrored ends
    w = np.kaiser(44100 - 4000, 20.0)[:, None]  # sidelobes far under the stopband
    err = np.abs(np.fft.rfft((y - real)[inner] * w, axis=0)) ** 2
    ref = np.abs(np.fft.rfft(added[inner] * w, axis=0)) ** 2
    f = np.fft.rfftfreq(44100 - 4000, 1 / 44100)
    below = f < 11025.0 * (1 - TRANSITION) - 50
    assert 10 * np.log10(err[below].sum() / ref[below].sum()) < -STOPBAND_DB + 10
