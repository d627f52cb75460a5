import numpy as np
import pytest

from superres.encoding import bits_to_int16, int16_to_bits, make_windows, n_windows, unwindow


def test_round_trip_every_int16_value():
    x = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
    bits = int16_to_bits(x)
    assert bits.shape == (65536, 16) and bits.dtype == np.uint8
    assert set(np.unique(bits)) == {0, 1}
    np.testing.assert_array_equal(bits_to_int16(bits), x)
    # Every value has its own code.
    assert len({b.tobytes() for b in bits}) == 65536


@pytest.mark.parametrize("value, expected", [
    (0, "0000000000000000"),
    (1, "0000000000000001"),
    (2, "0000000000000010"),
    (-1, "1111111111111111"),
    (-32768, "1000000000000000"),
    (32767, "0111111111111111"),
    (0x1234, "0001001000110100"),
])
def test_bit_order_is_twos_complement_msb_first(value, expected):
    bits = int16_to_bits(np.array([value], dtype=np.int16))[0]
    assert "".join(map(str, bits)) == expected


def test_float_bits_decode_by_threshold():
    bits = int16_to_bits(np.array([-12345, 777], dtype=np.int16)).astype(np.float32)
    noisy = np.clip(bits + np.where(bits > 0.5, -0.3, 0.3), 0, 1)
    np.testing.assert_array_equal(bits_to_int16(noisy), [-12345, 777])


def test_shapes_keep_leading_axes():
    x = np.zeros((3, 5), dtype=np.int16)
    assert int16_to_bits(x).shape == (3, 5, 16)
    assert bits_to_int16(int16_to_bits(x)).shape == (3, 5)


@pytest.mark.parametrize("n, window, hop, expected", [
    (0, 50, 50, 0), (1, 50, 50, 1), (50, 50, 50, 1), (51, 50, 50, 2), (100, 50, 50, 2),
    (100, 50, 25, 3), (101, 50, 25, 4), (10, 4, 3, 3),
])
def test_n_windows(n, window, hop, expected):
    assert n_windows(n, window, hop) == expected


@pytest.mark.parametrize("n, window, hop", [(137, 50, 50), (137, 50, 25), (50, 50, 10), (3, 50, 50), (200, 8, 3)])
def test_window_unwindow_round_trip(n, window, hop):
    x = np.random.default_rng(0).standard_normal((n, 2))
    w = make_windows(x, window, hop)
    assert w.shape == (n_windows(n, window, hop), window, 2)
    # Window i holds steps i*hop .. i*hop+window-1, zero past the end.
    for i in range(w.shape[0]):
        seg = x[i * hop:i * hop + window]
        np.testing.assert_array_equal(w[i, :len(seg)], seg)
        assert not w[i, len(seg):].any()
    np.testing.assert_allclose(unwindow(w, hop, n), x)
    np.testing.assert_allclose(unwindow(w, hop, n, weights=np.hanning(window) + 1e-3), x)


def test_unwindow_averages_overlaps():
    # Two overlapping windows with different constant values: the overlap is their weighted mean.
    w = np.stack([np.full(4, 1.0), np.full(4, 3.0)])
    out = unwindow(w, hop=2, n=6)
    np.testing.assert_allclose(out, [1, 1, 2, 2, 3, 3])
    out = unwindow(w, hop=2, n=6, weights=np.array([1.0, 1.0, 1.0, 3.0]))
    np.testing.assert_allclose(out[2:4], [(1 * 1 + 3 * 1) / 2, (1 * 3 + 3 * 1) / 4])
