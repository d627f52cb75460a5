"""Every file a user has: read it, measure what is real, keep that, restore only what is missing."""

import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from conftest import run_script, synth
from superres.bandwidth import bandwidth_of
from superres.decode import CODECS, av_blocks, encode_audio
from superres.runs import default_model_dir

MUSIC = synth(4.0, channels=2, seed=3)
NOISE = np.random.default_rng(1).standard_normal((4 * 44100, 2)) * 0.1
DEFAULT = ["--model", default_model_dir()]  # the pretrained generator, on ONNX Runtime


def decoded(path):
    return np.concatenate(list(av_blocks(path, 1 << 18)))


def band(x, rate, lo, hi):
    """``x`` (frames, channels) with only its spectrum from ``lo`` to ``hi`` Hz left (FFT brick wall)."""
    spec = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(x.shape[0], 1 / rate)
    spec[(f < lo) | (f >= hi)] = 0
    return np.fft.irfft(spec, x.shape[0], axis=0)


def snr_db(ref, est):
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - est) ** 2), 1e-300))


def kept_db(x, y, rate, hi):
    """SNR of ``y`` against ``x`` in their STFTs' bins below ``hi`` Hz, frame by frame summed (Hann frames: no
    brick wall's wrap-around, which would smear the different top bands over the edges of the file)."""
    from superres.metrics import stft

    sel = np.arange(1025) * rate / 2048 < hi
    num = sum(np.sum(np.abs(stft(x[:, c])[sel]) ** 2) for c in range(x.shape[1]))
    den = sum(np.sum(np.abs(stft(x[:, c] - y[:, c])[sel]) ** 2) for c in range(x.shape[1]))
    return 10 * np.log10(num / max(den, 1e-300))


@pytest.mark.parametrize("codec,kbps", [(c, k) for c in ("mp3", "aac", "opus") for k in (64, 128, 192, 320)])
def test_the_wall_of_every_codec_and_bitrate_is_found(tmp_path, codec, kbps):
    path = tmp_path / f"x{CODECS[codec][1]}"
    found = {}
    for kind, x in (("music", MUSIC), ("noise", NOISE)):
        encode_audio(path, x, 44100, codec, kbps * 1000)
        rate = 48000 if codec == "opus" else 44100
        found[kind] = bandwidth_of(decoded(path), rate)
    music, noise = found["music"], found["noise"]
    # Music and white noise through the same encoder show the same lowpass: within 3%, both full band or not.
    assert music.full_band == noise.full_band
    if not music.full_band:
        assert abs(music.cutoff - noise.cutoff) <= 0.03 * noise.cutoff, (music, noise)
        assert music.wall_db >= 30
    # The encoders' own lowpasses: LAME's 17 kHz at 128 kbps (content to 16.5 kHz), 320 kbps full band; FFmpeg's
    # AAC 17.3 kHz at 128 kbps; libopus fullband (20 kHz) from 64 kbps.
    expected = {("mp3", 128): (16000, 17200), ("aac", 128): (16800, 17700), ("mp3", 64): (10500, 12000),
                ("aac", 64): (12000, 13000)}
    if (codec, kbps) in expected:
        lo, hi = expected[codec, kbps]
        assert lo <= music.cutoff <= hi, music
    if (codec, kbps) in {("mp3", 320), ("opus", 64), ("opus", 128), ("opus", 192), ("opus", 320)}:
        assert music.full_band, music


def test_a_codecs_cutoff_rises_with_its_bitrate(tmp_path):
    for codec in ("mp3", "aac"):
        path = tmp_path / f"x{CODECS[codec][1]}"
        cutoffs = []
        for kbps in (64, 96, 128, 192):
            encode_audio(path, MUSIC, 44100, codec, kbps * 1000)
            cutoffs.append(bandwidth_of(decoded(path), 44100).cutoff)
        assert cutoffs == sorted(cutoffs) and cutoffs[-1] > cutoffs[0] + 4000, (codec, cutoffs)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """One song in the forms a music folder holds, made from one full-band original."""
    d = tmp_path_factory.mktemp("inputs")
    x = MUSIC
    sf.write(d / "full.wav", x, 44100, subtype="PCM_24")
    low16 = soxr.resample(soxr.resample(x, 44100, 32000, "VHQ"), 32000, 44100, "VHQ")  # content to 15.3 kHz
    sf.write(d / "low_24bit.wav", low16, 44100, subtype="PCM_24")
    sf.write(d / "rate22.wav", soxr.resample(x, 44100, 22050, "VHQ"), 22050, subtype="PCM_16")
    sf.write(d / "rate48.wav", soxr.resample(soxr.resample(x, 44100, 32000, "VHQ"), 32000, 48000, "VHQ"), 48000,
             subtype="PCM_16")
    sf.write(d / "rate16.wav", soxr.resample(x, 44100, 16000, "VHQ"), 16000, subtype="PCM_16")
    encode_audio(d / "aac.m4a", x, 44100, "aac", 128000)
    encode_audio(d / "mp3.mp3", x, 44100, "mp3", 128000)
    encode_audio(d / "opus.opus", x, 44100, "opus", 12000)  # at 12 kbps libopus keeps 9 kHz of the band
    out = d / "out"
    proc = run_script("rnn-super-resolution.py", "--predict", *DEFAULT, d, "--output", out)
    manifest = {f["output"]: f for f in json.loads((out / "manifest.json").read_text())["files"]}
    return d, out, manifest, proc.stdout


def test_a_full_band_file_comes_out_identical(inputs):
    d, out, manifest, said = inputs
    x, _ = sf.read(d / "full.wav", dtype="int32")
    y, rate = sf.read(out / "full.wav", dtype="int32")
    assert rate == 44100 and sf.info(out / "full.wav").subtype == "PCM_24" and np.array_equal(x, y)
    assert manifest["full.wav"]["done"] == "unchanged"
    assert "full.wav: 44.1 kHz, full band" in said and "nothing to restore, written as it is" in said


def test_a_24_bit_input_keeps_24_bit_precision_below_its_cutoff(inputs):
    d, out, manifest, said = inputs
    entry = manifest["low_24bit.wav"]
    assert entry["done"] == "spliced" and 15000 <= entry["cutoff_hz"] <= 15500
    assert sf.info(out / "low_24bit.wav").subtype == "PCM_24"
    x, _ = sf.read(d / "low_24bit.wav")
    y, _ = sf.read(out / "low_24bit.wav")
    kept = kept_db(x, y, 44100, 0.95 * entry["cutoff_hz"])
    # 16-bit rounding on the way would cap this near 90 dB; 24 bits and the splice's 130 dB stopband allow
    # more, up to the measure's own leakage from the band above.
    assert kept > 100, kept
    # Above the cutoff the band is restored: tens of dB more energy than the input's empty band.
    gained = 10 * np.log10(np.sum(band(y, 44100, entry["cutoff_hz"] + 300, 22050) ** 2)
                           / np.sum(band(x, 44100, entry["cutoff_hz"] + 300, 22050) ** 2))
    assert gained > 20
    assert "low_24bit.wav: 44.1 kHz, content up to 15." in said and "restoring 15." in said


def test_every_kind_keeps_its_real_band_and_gets_the_output_rate_it_should(inputs):
    d, out, manifest, said = inputs
    rates = {"rate22.wav": 44100, "rate16.wav": 44100, "rate48.wav": 48000, "aac.wav": 44100, "mp3.wav": 44100,
             "opus.wav": 48000}
    for name, rate in rates.items():
        entry = manifest[name]
        src = next(p for p in d.iterdir() if p.stem == name[:-4])
        y, r = sf.read(out / name, always_2d=True)
        x = decoded(src) if src.suffix in (".m4a", ".opus") else sf.read(src, always_2d=True)[0]
        rate_in = 48000 if src.suffix == ".opus" else sf.info(src).samplerate if src.suffix == ".wav" else 44100
        assert r == rate == entry["rate"] and y.shape[0] == -(-x.shape[0] * r // rate_in), name
        xr = soxr.resample(x, rate_in, r, "VHQ")[:y.shape[0]] if rate_in != r else x
        keep = 0.95 * entry["cutoff_hz"]
        kept = snr_db(band(xr, r, 0, keep), band(y, r, 0, keep))
        assert kept >= 50, (name, kept)
        assert entry["done"] == ("network" if name == "rate22.wav" else "spliced"), name
        # A decoded lossy file is the decoder's floats: written as float, not rounded to 16 bits.
        lossy = src.suffix in (".m4a", ".mp3", ".opus")
        assert sf.info(out / name).subtype == entry["subtype"] == ("FLOAT" if lossy else "PCM_16"), name
    # The codecs are read, measured and restored above their cutoff.
    assert 16000 <= manifest["mp3.wav"]["cutoff_hz"] <= 17200 and 16800 <= manifest["aac.wav"]["cutoff_hz"] <= 17700
    assert manifest["opus.wav"]["cutoff_hz"] < 13000
    # Below 11.025 kHz this model has nothing to fill the gap from: said once, for that file.
    assert said.count("stays as empty as the input left it") == 2  # rate16 and the 9 kHz opus


def test_the_cutoff_and_the_rate_can_be_given(inputs, tmp_path):
    d, _, _, _ = inputs
    run_script("rnn-super-resolution.py", "--predict", *DEFAULT, d / "rate48.wav", "--output", tmp_path,
               "--cutoff", "14000", "--rate", "44100", "--subtype", "float")
    entry = json.loads((tmp_path / "manifest.json").read_text())["files"][0]
    assert entry["cutoff_hz"] == 14000 and entry["cutoff_given"] and entry["rate"] == 44100
    info = sf.info(tmp_path / "rate48.wav")
    assert info.samplerate == 44100 and info.subtype == "FLOAT"
    proc = run_script("rnn-super-resolution.py", "--predict", *DEFAULT, d / "rate48.wav", "--output", tmp_path,
                      "--cutoff", "500", check=False)
    assert proc.returncode == 2 and "--cutoff" in proc.stderr


def test_the_api_follows_the_same_rules():
    import superres

    x = (MUSIC * 32767).astype(np.int16)
    y, rate = superres.upsample(x, 44100, model=default_model_dir())
    assert rate == 44100 and y.dtype == np.int16 and np.array_equal(x, y)  # full band: as it is
    low = soxr.resample(MUSIC, 44100, 22050, "VHQ").astype(np.float32)
    y, rate = superres.upsample(low, 22050, model=default_model_dir())
    assert rate == 44100 and y.dtype == np.float32 and y.shape == (2 * low.shape[0], 2)
    y, rate = superres.upsample(soxr.resample(low, 22050, 48000, "VHQ"), 48000, model=default_model_dir())
    assert rate == 48000


def test_scan_reads_every_format(tmp_path):
    orig = tmp_path / "orig"
    orig.mkdir()
    encode_audio(orig / "lossless.m4a", MUSIC, 44100, "alac")
    encode_audio(orig / "lossy.mp3", MUSIC, 44100, "mp3", 320000)
    run_script("10-scan.py", "--input", orig, "--output", tmp_path / "22k")
    m = json.loads((tmp_path / "22k" / "manifest.json").read_text())
    assert sorted(e["source"] for e in m["files"]) == ["lossless.m4a", "lossy.mp3"]
    low, rate = sf.read(tmp_path / "22k" / "lossless.wav")
    assert rate == 22050 and low.shape[0] == MUSIC.shape[0] // 2
    # ALAC is lossless: its 22.05 kHz copy is the original's.
    np.testing.assert_allclose(low, soxr.resample(MUSIC, 44100, 22050, "VHQ"), atol=2e-4)


def test_a_lossy_files_peaks_past_full_scale_are_written_as_decoded(tmp_path):
    # A loud master (noise limited at full scale) through AAC at 256 kbps: its decoder overshoots full scale;
    # nothing is missing above 19 kHz, so it is written as it is -- the decoded floats, peaks included.
    loud = np.clip(NOISE * 4, -0.99, 0.99)
    encode_audio(tmp_path / "loud.m4a", loud, 44100, "aac", 256000)
    x = decoded(tmp_path / "loud.m4a")
    assert np.abs(x).max() > 1.0  # what there is to keep
    run_script("rnn-super-resolution.py", "--predict", *DEFAULT, tmp_path / "loud.m4a", "--output", tmp_path / "o")
    entry = json.loads((tmp_path / "o" / "manifest.json").read_text())["files"][0]
    y, _ = sf.read(tmp_path / "o" / "loud.wav", always_2d=True)
    assert entry["done"] == "unchanged" and entry["clipped"] == 0 and entry["subtype"] == "FLOAT"
    np.testing.assert_array_equal(y, x.astype(np.float32))
    # Asked for 16 bits, the overs are clipped and counted.
    run_script("rnn-super-resolution.py", "--predict", *DEFAULT, tmp_path / "loud.m4a", "--output", tmp_path / "p",
               "--subtype", "16")
    entry = json.loads((tmp_path / "p" / "manifest.json").read_text())["files"][0]
    assert entry["clipped"] == np.count_nonzero(np.abs(x) > 32767.5 / 32768) > 0


@pytest.mark.parametrize("fmt, expect", [("s16p", "PCM_16"), ("s32p", "PCM_24")])
def test_alac_keeps_its_bit_depth(tmp_path, fmt, expect):
    import av

    from superres.audio import audio_info
    from superres.predict import same_subtype

    path = tmp_path / "a.m4a"
    x = (NOISE * 2 ** 15).astype(np.int16) if fmt == "s16p" else (NOISE * 2 ** 23).astype(np.int32) << 8
    with av.open(str(path), "w") as out:
        stream = out.add_stream("alac", rate=44100, layout="stereo")
        stream.format = fmt
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.T), format=fmt, layout="stereo")
        frame.rate = 44100
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    info = audio_info(path)
    assert not info.lossy and info.subtype == expect and same_subtype(info, "o.wav") == expect
    y = decoded(path)
    scale = 2 ** 15 if fmt == "s16p" else 2 ** 31
    np.testing.assert_array_equal(np.rint(y * scale), x)  # lossless, every bit


def test_the_output_precision_follows_the_inputs():
    from types import SimpleNamespace

    from superres.predict import same_subtype

    def info(subtype, lossy=False):
        return SimpleNamespace(subtype=subtype, lossy=lossy)

    assert [same_subtype(info(s)) for s in ("PCM_16", "PCM_U8", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")] == \
        ["PCM_16", "PCM_16", "PCM_24", "FLOAT", "FLOAT", "FLOAT"]
    for lossy in (info("MPEG_LAYER_III"), info("VORBIS"), info("OPUS"), info("AAC", True), info("WMAV2", True)):
        assert same_subtype(lossy, "o.wav") == "FLOAT" and same_subtype(lossy, "o.flac") == "PCM_24"


def test_headroom_lowers_only_the_added_band_smoothly_and_streams_exactly():
    from superres.splice import CEILING, HEADROOM_FRAMES, Headroom

    rng = np.random.default_rng(4)
    n = 20000
    t = np.arange(n) / 44100
    real = np.stack([0.9 * np.sin(2 * np.pi * 50 * t), 0.8 * np.sin(2 * np.pi * 70 * t)], 1)
    real[12000:12010, 0] = 1.05  # the real band past full scale by itself
    added = 0.25 * rng.standard_normal((n, 2))
    added[:3000] *= 0.01  # a stretch where nothing needs lowering
    whole = Headroom(2).push(real, added, end=True)
    assert whole.shape == real.shape
    g = np.median((whole - real) / added, axis=1)  # one gain for both channels
    np.testing.assert_allclose(whole, real + g[:, None] * added, atol=1e-12)
    inside = (np.abs(real) <= CEILING).all(axis=1)
    assert np.abs(whole[inside]).max() <= CEILING + 1e-12  # never past full scale where the real band is not
    over = ~inside & (np.abs(real + added) > CEILING).any(axis=1)
    assert np.count_nonzero(over) > 3 and np.abs(g[over]).max() < 1e-12 and np.all((-1e-9 <= g) & (g <= 1 + 1e-9))
    assert np.count_nonzero(np.abs(real + added)[inside] > CEILING) > 100  # and it had to act
    np.testing.assert_array_equal(whole[:2000], (real + added)[:2000])  # untouched where nothing is needed
    assert np.abs(np.diff(g)).max() <= 1 / (2 * HEADROOM_FRAMES + 1) + 1e-12  # falls and recovers, no step
    # Streamed in any pieces (a single frame, pieces shorter than its lag), the same output.
    h, out, a = Headroom(2), [], 0
    for size in [1, 7, 100, 64, 5000, 3, 9000]:
        out.append(h.push(real[a:a + size], added[a:a + size]))
        a += size
    out.append(h.push(real[a:], added[a:], end=True))
    np.testing.assert_allclose(np.concatenate(out), whole, atol=1e-12)
