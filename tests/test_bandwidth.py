"""The real bandwidth of a file: walls of resamplers and lowpasses found, slopes and quiet passages not taken
for one."""

from fractions import Fraction

import numpy as np
import pytest
import scipy.signal as ss
import soxr

from conftest import synth
from superres.bandwidth import FULL_BAND_HZ, MIN_WALL_HZ, bandwidth_of

RATE = 44100
CUTOFFS = (4000, 5500, 7500, 8000, 11025, 12000, 16000, 17000, 19000)
RNG = np.random.default_rng(0)
MUSIC = synth(6.0, channels=2, seed=3)
NOISE = RNG.standard_normal((6 * RATE, 2)) * 0.1
WHITE = RNG.standard_normal(20 * RATE) * 0.1


def q16(x):
    """As a 16-bit file holds it."""
    return np.round(x * 32768) / 32768


def lowpasses(fc):
    """The ways a file loses its top band at ``fc`` Hz: name -> function of (frames, channels) at 44.1 kHz."""
    r = int(round(2 * fc))
    down = Fraction(r, RATE).limit_denominator(1000)
    return {
        "soxr": lambda x: soxr.resample(soxr.resample(x, RATE, r, "VHQ"), r, RATE, "VHQ"),
        "scipy polyphase": lambda x: soxr.resample(ss.resample_poly(x, down.numerator, down.denominator, axis=0),
                                                   r, RATE, "VHQ"),
        "FIR": lambda x: ss.lfilter(ss.firwin(511, fc, fs=RATE), 1, x, axis=0),
        "IIR elliptic": lambda x: ss.sosfilt(ss.ellip(8, 0.1, 80, fc, fs=RATE, output="sos"), x, axis=0),
        "IIR Chebyshev II": lambda x: ss.sosfilt(ss.cheby2(10, 80, fc, fs=RATE, output="sos"), x, axis=0),
    }


def response_points(fn, *drops_db):
    """The highest frequencies (Hz) up to which the lowpass ``fn`` stays within each of ``drops_db`` of its
    passband, measured on white noise (Welch, 5.4 Hz bins): where its real content ends."""
    y = fn(WHITE[:, None])[:WHITE.shape[0], 0]
    f, pin = ss.welch(WHITE, RATE, nperseg=8192)
    _, pout = ss.welch(y, RATE, nperseg=8192)
    gain = 10 * np.log10(pout / pin)
    passband = np.median(gain[(f > 1000) & (f < 3000)])
    out = []
    for d in drops_db:
        below = np.flatnonzero(gain < passband - d)
        out.append(f[below[0] - 1] if below.size else RATE / 2)
    return out


@pytest.mark.parametrize("fc", CUTOFFS)
def test_the_wall_of_every_lowpass_is_found_where_its_content_ends(fc):
    for name, fn in lowpasses(fc).items():
        f10, f40, f60 = response_points(fn, 10, 40, 60)
        for kind, x in (("noise", NOISE), ("music", MUSIC)):
            bw = bandwidth_of(q16(fn(x)), RATE)
            assert bw.wall_db >= 30, (name, kind, bw)
            # Restored below FULL_BAND_HZ (18.5 kHz): a 19 kHz FIR or elliptic lowpass, whose content reaches
            # 19.0-19.2 kHz, reads as full band; a resampler to 38 kHz (content to 18.1 kHz) does not.
            assert bw.full_band == (bw.cutoff >= FULL_BAND_HZ) and (fc >= FULL_BAND_HZ or not bw.full_band), bw
            if name.startswith("IIR"):
                # An IIR lowpass's transition is slower (a Chebyshev II takes a third of an octave): content is
                # there, attenuated, through part of it, and the cutoff lies between its -10 and -40 dB points
                # (-60 dB for music, whose strong partials stay above its typical level for longer).
                top = f60 if kind == "music" else f40
                assert 0.985 * f10 <= bw.cutoff <= top, (name, kind, fc, f10, top, bw.cutoff)
            else:
                # Within 1.5% (and one 10.8 Hz bin) of the frequency where the filter is 10 dB down.
                assert abs(bw.cutoff - f10) <= 0.015 * f10 + 11, (name, kind, fc, f10, bw.cutoff)


def test_full_band_music_and_noise_read_as_full_band():
    for x in (MUSIC, NOISE):
        bw = bandwidth_of(q16(x), RATE)
        assert bw.full_band and bw.wall_db == 0.0 and bw.cutoff == RATE / 2
    # A lowpass at 20.5 kHz (content to 19.6 kHz) leaves nothing audible to restore.
    bw = bandwidth_of(q16(lowpasses(20500)["soxr"](NOISE)), RATE)
    assert bw.wall_db >= 30 and bw.cutoff >= FULL_BAND_HZ and bw.full_band


@pytest.mark.parametrize("order,corner", [(1, 2000), (2, 1000), (4, 3000), (4, 1000)])
def test_a_natural_slope_is_not_a_wall(order, corner):
    # Music with little treble: 6 to 24 dB per octave from a low corner, down into the 16-bit floor.
    y = ss.sosfilt(ss.butter(order, corner, fs=RATE, output="sos"), NOISE, axis=0) * 3
    assert bandwidth_of(q16(y), RATE).full_band


def test_silence_and_quiet_passages_neither_hide_nor_fake_a_wall():
    quiet = 1e-4 * NOISE  # -100 dB: sinks into the 16-bit floor
    # Full-band music with long near-silent passages around it still reads as full band ...
    x = np.concatenate([quiet, MUSIC, np.zeros_like(MUSIC), quiet])
    assert bandwidth_of(q16(x), RATE).full_band
    # ... and a lowpassed one still shows its wall.
    low = lowpasses(11025)["soxr"](MUSIC)
    bw = bandwidth_of(q16(np.concatenate([quiet, low, np.zeros_like(low)])), RATE)
    assert abs(bw.cutoff - 10514) < 200 and not bw.full_band
    # All silence: nothing to measure, nothing missing.
    assert bandwidth_of(np.zeros((RATE, 2)), RATE).full_band


def test_a_file_at_a_lower_rate_is_measured_at_its_own_rate():
    for r in (16000, 22050, 32000):
        x = soxr.resample(NOISE, RATE, r, "VHQ")
        bw = bandwidth_of(q16(x), r)
        # Its content reaches its own Nyquist frequency, less the resampler's roll-off.
        assert 0.9 * r / 2 <= bw.cutoff <= r / 2 and bw.rate == r, bw
        assert bw.describe().startswith(f"{r / 1000:g} kHz")


def shaped(level_db, seconds=4.0, channels=2, seed=5):
    """White noise at -20 dB per channel, its spectrum shaped by ``level_db`` (a function of Hz, dB)."""
    n = int(seconds * RATE)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal((n, channels)), axis=0)
    gain = 10 ** (level_db(np.fft.rfftfreq(n, 1 / RATE)) / 20)
    return np.fft.irfft(spec * gain[:, None], n, axis=0) * 0.1


def piano(f):
    """Flat to 4 kHz, then 35 dB down over a kHz, and on falling 10 dB per kHz into the 16-bit floor."""
    return np.where(f < 4000, 0.0, np.where(f < 5000, -35 * (f - 4000) / 1000, -35 - 10 * (f - 5000) / 1000))


def bird(f):
    """A call at 3-5 kHz, falling 40 dB per 1.2 kHz down to the recording's noise, 40 dB under the call."""
    call = np.where(f < 3000, -30.0, np.where(f < 5000, 0.0, -40 * (f - 5000) / 1200))
    return np.maximum(call, -40.0)


def drone():
    """Partials every 110 Hz up to 1.65 kHz over noise 45 dB under them, mono."""
    t = np.arange(4 * RATE) / RATE
    rng = np.random.default_rng(2)
    x = sum(0.05 * np.sin(2 * np.pi * 110 * h * t + rng.uniform(0, 6.3)) for h in range(1, 16))
    return (x + 0.1 * 10 ** (-45 / 20) * rng.standard_normal(t.size))[:, None]


def test_a_steep_natural_roll_off_is_not_a_wall():
    # What the held-out samples that read as lowpassed did (a piano note, a tabla, birds, a glass hum, a drone):
    # a fall of 35-45 dB within a kHz, steep as a slow lowpass. A lowpass's stopband is flat past its transition;
    # these keep falling, or rest on the recording's own noise, which only the file's resampler takes away near
    # Nyquist (here at 19 kHz, and at a 22.05 kHz copy's Nyquist), or lie below any lowpass in use.
    call = soxr.resample(soxr.resample(shaped(bird, channels=1) * 0.1, RATE, 40000, "VHQ"), 40000, RATE, "VHQ")
    for name, x, rate in (("piano", shaped(piano), RATE), ("bird", call, RATE),
                          ("bird at 22.05 kHz", soxr.resample(call, RATE, 22050, "VHQ"), 22050),
                          ("drone", drone(), RATE)):
        bw = bandwidth_of(q16(x), rate)
        assert bw.cutoff >= 0.95 * rate / 2 and bw.full_band == (rate == RATE), (name, bw)
    assert MIN_WALL_HZ > 1650


@pytest.mark.parametrize("kind", ["noise", "music"])
def test_a_resampler_wall_at_18_8_khz_reads_full_band(kind):
    # Originals mastered at 44.1 kHz through a resampler or a codec keep 18.7-19 kHz: nothing audible is missing.
    fn = lowpasses(19700)["soxr"]  # resampled to 39.4 kHz: content to 18.8 kHz
    f10, = response_points(fn, 10)
    bw = bandwidth_of(q16(fn(NOISE if kind == "noise" else MUSIC)), RATE)
    assert abs(bw.cutoff - f10) <= 0.015 * f10 + 11 and abs(f10 - 18800) < 100, (f10, bw)
    assert bw.wall_db >= 30 and bw.full_band


def codec_like(x, fc, seed=4):
    """``x`` cut at ``fc`` Hz, with what a codec leaves above (FFmpeg's AAC at 32-64 kbps): noise starting 50 dB
    under white noise at -20 dB and falling 3 dB per kHz up to Nyquist. Float, as decoded."""
    n = x.shape[0]
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec = np.where((f < fc)[:, None], np.fft.rfft(x, axis=0), 0)
    noise = np.fft.rfft(np.random.default_rng(seed).standard_normal(x.shape), axis=0) * 0.1
    gain = np.where(f >= fc, 10 ** (-(50 + 3 * (f - fc) / 1000) / 20), 0)
    return np.fft.irfft(spec + noise * gain[:, None], n, axis=0)


@pytest.mark.parametrize("fc", [17000, 8000])
def test_a_codec_wall_is_restored_though_its_stopband_falls(fc):
    # A 128 kbps MP3 or AAC keeps 16.5-17.3 kHz: to restore. A codec's stopband need not be flat: it may fall
    # evenly by tens of dB over the kHz up to Nyquist (over 14 kHz above an 8 kHz wall).
    for kind, x in (("noise", NOISE), ("music", MUSIC)):
        bw = bandwidth_of(codec_like(x, fc), RATE)
        assert abs(bw.cutoff - fc) <= 0.015 * fc and bw.wall_db >= 30 and not bw.full_band, (kind, bw)
