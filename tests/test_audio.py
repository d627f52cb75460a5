import os

import numpy as np
import pytest
import soundfile as sf

from superres.audio import (fit_length, linear_upsample, naive_upsample, read_audio, resample, sinc_upsample,
                            to_int16, write_audio)
from conftest import synth

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


def _tones(n, freqs, amp=0.2, rate=44100):
    t = np.arange(n) / rate
    return sum(amp * np.sin(2 * np.pi * f * t + i) for i, f in enumerate(freqs))[:, None]


def _snr_db(ref, est):
    ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2))


#: Least SNR of a 16-bit round trip 44.1 -> 22.05 -> 44.1 kHz of tones below 10 kHz, away from the ends. The
#: error is the two roundings to 16 bits (about 1/12 step^2 each: 87 dB for these tones' power, 0.08 of full
#: scale) and soxr VHQ's ripple and stopband, 180 dB down (the same trip in float: 182 dB); measured 87.8-89.0
#: dB. A lower-quality resampler (soxr LQ: 9 dB, its passband ends before 9.5 kHz) or the naive upsample
#: (5 dB) is far below.
ROUND_TRIP_MIN_SNR = 85.0


def test_resample_lengths_and_round_trip_are_exact():
    for n in (1000, 1001, 44100):
        x = to_int16(_tones(n, (440, 2500, 6000, 9500)))
        low = resample(x, 44100, 22050)
        assert low.shape == (-(-n // 2), 1) and low.dtype == np.int16
        up = sinc_upsample(low)
        assert up.shape == (2 * low.shape[0], 1) and up.dtype == np.int16
        # Band-limited below 10 kHz: the round trip gives it back, to 16-bit rounding, but for the resampler's
        # start and end transients (the filter sees silence beyond the ends; 200 samples, 4.5 ms).
        assert _snr_db(x[200:n - 200], up[200:n - 200]) > ROUND_TRIP_MIN_SNR, n
    xf = _tones(44100, (440, 2500, 6000, 9500))
    upf = sinc_upsample(resample(xf, 44100, 22050))
    # The resampler alone, in float and further from the ends (its transients reach 112 dB at 200 samples):
    assert upf.dtype == np.float64 and _snr_db(xf[1000:-1000], upf[1000:-1000]) > 150
    # A tone above 11.025 kHz is removed by the downsample, not folded: 15 kHz at half of full scale would alias
    # to 22.05 - 15 = 7.05 kHz at its own level; what is left rounds to digital silence away from the ends
    # (less than -90 dB of the tone), and its spectrum has nothing at 7.05 kHz.
    hf = to_int16(_tones(44100, (15000,), amp=0.5))
    low = resample(hf, 44100, 22050)[:, 0].astype(np.float64)
    assert np.abs(low[500:-500]).max() <= 1.0
    level = 0.5 * 32768 / np.sqrt(2)
    assert 20 * np.log10(max(np.sqrt(np.mean(low[500:-500] ** 2)), 1e-9) / level) < -90
    win = np.hanning(len(low))
    spec = np.abs(np.fft.rfft(low * win)) / (win.sum() / 2)  # amplitude of a sinusoid, 16-bit units
    f = np.fft.rfftfreq(len(low), 1 / 22050)
    near_alias = np.abs(f - 7050) < 20
    assert spec[near_alias].max() < 0.5 * 32768 * 10 ** (-90 / 20)


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


def test_one_behind_works_in_order_one_item_behind_and_raises_at_the_next_item():
    import threading

    from superres.audio import one_behind

    done, running = [], threading.Event()
    release = threading.Event()

    def work(x):
        running.set()
        if x == 0:
            release.wait(5)  # the first call is held until the caller has gone on
        done.append(x)

    with one_behind(work) as feed:
        feed(0)
        assert running.wait(5) and done == []  # feeding returned while its call still runs
        release.set()
        for x in range(1, 6):
            feed(x)
            assert done[:x] == list(range(x))  # every call before this one is done, in order
    assert done == list(range(6))  # leaving waits for the last

    def failing(x):
        if x == 2:
            raise ValueError("at two")

    fed = []
    with pytest.raises(ValueError, match="at two"):
        with one_behind(failing) as feed:
            for x in range(10):
                feed(x)
                fed.append(x)
    assert fed == [0, 1, 2]  # raised by the item after the failed one
    with pytest.raises(ValueError, match="at two"):
        with one_behind(failing) as feed:
            for x in range(3):
                feed(x)  # the failing call is the last: raised on leaving


def test_prefetch_keeps_the_order_raises_where_the_stream_failed_and_stops_with_its_caller():
    import threading

    from superres.audio import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("at three")

    got = []
    with pytest.raises(ValueError, match="at three"):
        for x in prefetch(failing()):
            got.append(x)
    assert got == [1, 2]
    made = []

    def endless():
        while True:
            made.append(len(made))
            yield made[-1]

    before = threading.active_count()
    for x in prefetch(endless(), depth=2):
        if x == 5:
            break
    # The caller stopped: the thread ended, having made at most the items that fit in the queue, and one more.
    assert threading.active_count() == before and len(made) <= 5 + 1 + 2 + 1


@pytest.mark.parametrize("ext", [".m4a", ".mp3", ".wav"])
def test_a_compressed_file_is_decoded_once_beside_the_output_and_watched_on_the_way(tmp_path, ext):
    from superres.audio import decoded_once, read_blocks
    from superres.decode import encode_audio

    x = synth(1.3, rate=44100, channels=2, seed=9) * 0.5
    src = tmp_path / f"in{ext}"
    if ext == ".wav":
        sf.write(str(src), x, 44100, subtype="PCM_24")
    else:
        encode_audio(str(src), x, 44100, {".m4a": "aac", ".mp3": "mp3"}[ext], 128000)
    out = tmp_path / "out"
    out.mkdir()
    seen = []
    with decoded_once(src, out / "in.wav", lambda b: seen.append(b.copy())) as (source, info, watched):
        assert watched == (ext != ".wav")
        if ext == ".wav":
            assert source == src and not seen
        else:
            # A float WAV in the output folder, holding exactly the decoded samples, all of which were watched.
            assert source.parent == out and sf.info(str(source)).subtype == "FLOAT"
            want = np.concatenate(list(read_blocks(src, 44100, 1 << 16, "float64")))
            got = np.concatenate(list(read_blocks(source, 44100, 1 << 16, "float64")))
            assert info.frames == want.shape[0] == got.shape[0] == sum(b.shape[0] for b in seen)
            np.testing.assert_array_equal(got, want.astype(np.float32))
            np.testing.assert_array_equal(np.concatenate(seen), want)
            assert info.subtype == sf.info(str(src)).subtype if ext == ".mp3" else info.lossy
    assert list(out.iterdir()) == []  # the decoded copy is gone
    # Also when the work in between fails.
    with pytest.raises(RuntimeError):
        with decoded_once(src, out / "in.wav") as (source, info, watched):
            raise RuntimeError("stop")
    assert list(out.iterdir()) == []


def test_prefetch_lets_a_failed_stream_go_without_the_garbage_collector():
    """The stream's error, re-raised in the caller, holds no cycle through the frame that raised it: what the
    stream held (its blocks, open files) goes with the error, not whenever the garbage collector runs."""
    import gc
    import weakref

    from superres.audio import prefetch

    class Held:
        pass

    held = []

    def failing():
        h = Held()
        held.append(weakref.ref(h))
        yield 1
        raise ValueError("stop")

    gc.disable()
    try:
        try:
            for _ in prefetch(failing()):
                pass
        except ValueError:
            pass
        assert held[0]() is None
    finally:
        gc.enable()
