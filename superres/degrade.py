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


# ---------------------------------------------------------------------------------------------------------------
# Inputs of every cutoff (the ``cgen`` architecture): a resampler's or a lowpass's wall anywhere from 4 to 20 kHz.

#: Cutoffs users' files commonly have, Hz: 11.025/8/5.5 kHz sample rates, telephone and speech rates, 16 kHz
#: (32 kHz files, MP3 at 128 kbps and below), 17-19 kHz (AAC and MP3 lowpasses at 128-256 kbps).
COMMON_CUTOFFS = (4000.0, 5512.5, 7500.0, 8000.0, 11025.0, 12000.0, 16000.0, 16500.0, 17000.0, 18000.0, 19000.0)
#: Share of the cutoffs drawn from :data:`COMMON_CUTOFFS` (each jittered by up to 3%); the rest log-uniform.
COMMON_SHARE = 0.5
#: Ways to cut the band at a cutoff ``c``: (name, weight). ``resample-*``: soxr to the rate ``2 c`` and back (a
#: resampler's wall at about ``c``); ``fir``: a Kaiser-windowed FIR lowpass of 63-511 taps at ``c``; ``iir``: an
#: elliptic or Chebyshev II lowpass (the wall of many encoders and DAWs' filters); ``butter``: an 8th-16th order
#: Butterworth, a softer roll-off that still reads as a wall.
ANY_METHODS = (("resample-vhq", 2.0), ("resample-hq", 1.5), ("resample-lq", 0.5), ("fir", 1.5), ("iir", 1.0),
               ("butter", 0.5))


#: Codecs a training input may go through, with the bitrates drawn, bits per second of a stereo file (a mono
#: window is encoded at half, where the encoders put the same lowpass): those that leave a wall below the
#: full-band limit (measured: MP3 64/96/128 kbps cut at 8.2/11.1/16.2-16.6 kHz, AAC at 12.4/16/17.3 kHz). MP3
#: from 160 kbps and Opus from 16 kbps up keep the band to 20 kHz: they read as full band and are written
#: unchanged, so they teach nothing.
CODEC_BITRATES = {"mp3": (64000, 96000, 128000), "aac": (64000, 96000, 128000)}
#: Share of the training inputs that go through a codec instead of a lowpass. Encoding costs 30-100 ms per
#: 0.74 s window on one core (measured): a quarter of the windows slows a step by about a third on 2 cores.
CODEC_SHARE = 0.25


def codec_roundtrip(y, codec, bitrate, folder=None):
    """``y`` (n,) at 44.1 kHz encoded with PyAV (:func:`superres.decode.encode_audio`) and decoded back, float64
    (n,), aligned with ``y`` (the encoder's delay found by :func:`superres.decode.codec_lag`): what a
    user's MP3, AAC or Opus file holds, with its lowpass, its holes and its ragged bands."""
    import os
    import tempfile

    from .audio import read_audio, resample
    from .decode import CODECS, codec_lag, encode_audio

    fd, path = tempfile.mkstemp(suffix=CODECS[codec][1], dir=folder)
    os.close(fd)
    try:
        encode_audio(path, y[:, None], HIGH_RATE, codec, bitrate)
        out, rate = read_audio(path)
    finally:
        os.unlink(path)
    out = out[:, 0] if rate == HIGH_RATE else resample(out, rate, HIGH_RATE)[:, 0]
    lag, n = codec_lag(y, out), y.shape[0]
    out = out[lag:] if lag >= 0 else np.pad(out, (-lag, 0))
    return np.pad(out[:n], (0, max(0, n - out.shape[0])))


def draw_cutoff(rng):
    """A cutoff in Hz from :data:`COMMON_CUTOFFS` (jittered) or log-uniform over 4-20 kHz."""
    from .bandplan import MAX_CUTOFF_HZ, MIN_CUTOFF_HZ

    if rng.random() < COMMON_SHARE:
        c = rng.choice(COMMON_CUTOFFS) * rng.uniform(0.97, 1.03)
    else:
        c = np.exp(rng.uniform(np.log(MIN_CUTOFF_HZ), np.log(MAX_CUTOFF_HZ)))
    return float(np.clip(c, MIN_CUTOFF_HZ, MAX_CUTOFF_HZ))


def lowpass(y, cutoff, method, rng):
    """``y`` (n,) at 44.1 kHz with its band cut at ``cutoff`` Hz by ``method`` (:data:`ANY_METHODS`), float64 (n,).

    The result is at 44.1 kHz whatever the method (a resampled signal is brought back by soxr VHQ, as prediction
    sinc-interpolates a low-rate file), rounded to 16 bits at the low rate as a file there would be.
    """
    n = y.shape[0]
    nyq = HIGH_RATE / 2
    if method.startswith("resample-"):
        rate = int(round(2 * cutoff))
        low = soxr.resample(y, HIGH_RATE, rate, quality=method[9:].upper())
        low = np.clip(np.round(low * 32768.0), -32768, 32767) / 32768.0
        out = soxr.resample(low, rate, HIGH_RATE, quality="VHQ")
    elif method == "fir":
        taps = scipy.signal.firwin(int(rng.choice([63, 127, 255, 511])), cutoff / nyq, window=("kaiser", 8.0))
        out = scipy.signal.fftconvolve(y, taps, mode="same")
    elif method == "iir":
        if rng.random() < 0.5:
            sos = scipy.signal.ellip(int(rng.integers(6, 11)), 0.1, 80, cutoff / nyq, output="sos")
        else:
            sos = scipy.signal.cheby2(int(rng.integers(8, 13)), 80, min(0.999, cutoff * 1.05 / nyq), output="sos")
        out = scipy.signal.sosfilt(sos, y)
    elif method == "butter":
        sos = scipy.signal.butter(int(rng.integers(8, 17)), cutoff / nyq, output="sos")
        out = scipy.signal.sosfilt(sos, y)
    else:
        raise ValueError(f"unknown method {method!r}")
    out = np.asarray(out, np.float64)[:n]
    if not method.startswith("resample-"):
        out = np.clip(np.round(out * 32768.0), -32768, 32767) / 32768.0
    return np.pad(out, (0, n - out.shape[0]))


def remade_any(y, rng, cutoff=None, method=None):
    """A ``cgen`` input for target ``y`` (n,) at 44.1 kHz: its band cut at a random cutoff by a random method, or
    (:data:`CODEC_SHARE` of them, when neither is given) through a codec at a random bitrate.

    Returns
    -------
    x : ndarray of float32, shape (n,)
    cutoff : float
        The cutoff the network is told, Hz: what :func:`superres.bandwidth.detect_bandwidth` reads in ``x``, as
        prediction tells it (the cutoff the band was cut at where the detector finds no wall in one window).
    """
    from .bandwidth import detect_bandwidth

    if method is None and cutoff is None and rng.random() < CODEC_SHARE:
        codec = str(rng.choice(sorted(CODEC_BITRATES)))
        x = codec_roundtrip(y, codec, int(rng.choice(CODEC_BITRATES[codec])) // 2)
        found = detect_bandwidth([x[:, None]], HIGH_RATE, 1)
        if not found.full_band:  # (a quiet window or one without treble shows no wall: a lowpass instead)
            return x.astype(np.float32), float(found.cutoff)
    cutoff = draw_cutoff(rng) if cutoff is None else float(cutoff)
    if method is None:
        names, weights = zip(*ANY_METHODS)
        method = names[rng.choice(len(names), p=np.asarray(weights) / sum(weights))]
    x = lowpass(y, cutoff, method, rng)
    # Told what prediction will be told: the detector's reading of this very input (a resampler's -10 dB point
    # lies some 4% below half its rate). Where one window is too short or too quiet for it, the nominal cutoff.
    found = detect_bandwidth([x[:, None]], HIGH_RATE, 1)
    told = found.cutoff if not found.full_band and abs(found.cutoff / cutoff - 1) < 0.15 else cutoff
    return x.astype(np.float32), float(told)
