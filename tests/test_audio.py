import os

import numpy as np
import pytest
import soundfile as sf

from superres.audio import (fit_length, linear_upsample, naive_upsample, read_audio, resample, sinc_upsample,
                            to_int16, write_audio)
from superres.errors import UserError


def test_naive_upsample_repeats_each_sample():
    x = np.array([[1, -1], [2, -2], [3, -3]], dtype=np.int16)
    np.testing.assert_array_equal(naive_upsample(x), [[1, -1], [1, -1], [2, -2], [2, -2], [3, -3], [3, -3]])
    assert naive_upsample(x).dtype == np.int16


def test_linear_upsample_interpolates_midpoints():
    x = np.array([[0], [100], [-100]], dtype=np.int16)
    np.testing.assert_array_equal(linear_upsample(x)[:, 0], [0, 50, 100, 0, -100, -100])


def test_to_int16_rounds_and_clips_never_wraps():
    x = np.array([0.0, 0.5, -1.0, 1.0, 2.0, -3.0, 1 / 32768, 0.49 / 32768, 0.51 / 32768])
    np.testing.assert_array_equal(to_int16(x), [0, 16384, -32768, 32767, 32767, -32768, 1, 0, 1])


def test_resample_lengths_and_round_trip_are_exact():
    for n in (1000, 1001, 44100):
        x = to_int16(np.sin(np.arange(n)[:, None] * 0.01) * 0.5)
        low = resample(x, 44100, 22050)
        assert low.shape == (-(-n // 2), 1) and low.dtype == np.int16
        assert sinc_upsample(low).shape == (2 * low.shape[0], 1)


def test_sinc_beats_naive_on_band_limited_signal():
    t = np.arange(44100) / 44100
    x = to_int16(0.5 * np.sin(2 * np.pi * 3000 * t)[:, None])
    low = resample(x, 44100, 22050)
    err_sinc = np.abs(sinc_upsample(low)[1000:-1000].astype(float) - x[1000:-1000]).mean()
    err_naive = np.abs(naive_upsample(low)[1000:-1000].astype(float) - x[1000:-1000]).mean()
    assert err_sinc < err_naive / 20


def test_fit_length():
    x = np.ones((5, 2))
    assert fit_length(x, 3).shape == (3, 2)
    y = fit_length(x, 7)
    assert y.shape == (7, 2) and not y[5:].any()


def test_write_audio_is_atomic_and_exact(tmp_path):
    x = np.array([[0, 1], [-32768, 32767], [5, -5]], dtype=np.int16)
    path = tmp_path / "out.wav"
    write_audio(path, x, 22050)
    y, rate = read_audio(path, "int16")
    assert rate == 22050
    np.testing.assert_array_equal(y, x)
    assert os.listdir(tmp_path) == ["out.wav"]
    with pytest.raises(ValueError):
        write_audio(tmp_path / "bad.wav", x, 22050, subtype="NOT_A_SUBTYPE")
    assert os.listdir(tmp_path) == ["out.wav"], "a failed write must leave no file behind"


def test_read_audio_quantises_other_formats(tmp_path):
    x = np.array([[0.25], [-0.5], [1.5]])
    sf.write(tmp_path / "f.wav", x, 44100, subtype="FLOAT")
    y, _ = read_audio(tmp_path / "f.wav", "int16")
    np.testing.assert_array_equal(y[:, 0], [8192, -16384, 32767])


def test_unreadable_file_is_a_user_error(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(UserError, match="not a readable audio file"):
        read_audio(tmp_path / "text.wav")
    with pytest.raises(UserError, match="not found"):
        read_audio(tmp_path / "missing.wav")
