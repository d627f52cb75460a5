"""Input formats: 8/16/24/32-bit integer and 32/64-bit float WAV, FLAC and OGG; any channel count."""

import json

import numpy as np
import pytest
import soundfile as sf

from conftest import run_script, synth
from superres.audio import read_blocks, to_int16

FORMATS = [("wav", "PCM_U8"), ("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "PCM_32"), ("wav", "FLOAT"),
           ("wav", "DOUBLE"), ("flac", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS")]


@pytest.mark.parametrize("ext, subtype", FORMATS)
def test_read_blocks_decodes_every_format(tmp_path, ext, subtype):
    x = synth(0.2, 22050, 2, seed=1)
    path = tmp_path / f"in.{ext}"
    sf.write(path, x, 22050, subtype=subtype)
    got = np.concatenate(list(read_blocks(path, 22050, 1000)))
    assert got.dtype == np.int16 and got.shape == x.shape
    want = to_int16(sf.read(path, dtype="float64", always_2d=True)[0])
    np.testing.assert_array_equal(got, want)
    # And it is the signal that was written, to the format's precision.
    tol = {"PCM_U8": 300, "VORBIS": 3000}.get(subtype, 2)
    assert np.abs(got.astype(float) - x * 32768).mean() < tol


def test_scan_accepts_every_format_rate_and_channel_count(tmp_path):
    orig = tmp_path / "orig"
    orig.mkdir()
    for i, (ext, subtype) in enumerate(FORMATS):
        rate = [44100, 48000, 96000, 32000][i % 4]
        sf.write(orig / f"f{i}_{subtype}.{ext}", synth(0.3, rate, 1 + i % 3, seed=i), rate, subtype=subtype)
    proc = run_script("10-scan.py", "--input", orig, "--output", tmp_path / "22k")
    m = json.loads((tmp_path / "22k" / "manifest.json").read_text())
    assert len(m["files"]) == len(FORMATS)
    for i, e in enumerate(m["files"]):
        info = sf.info(tmp_path / "22k" / e["output"])
        assert info.samplerate == 22050 and info.subtype == "PCM_16" and info.channels == 1 + i % 3
        assert e["frames_high"] == round(0.3 * 44100) or abs(e["frames_high"] - 0.3 * 44100) <= 1
    assert "32000 Hz, resampled to 44100 Hz first; it has nothing above 16 kHz" in proc.stdout


def _pcm_mka(path, codec, fmt):
    """A Matroska file of raw PCM (``pcm_s16le`` as packed s16, ``pcm_u8`` as packed u8), 0.1 s stereo noise."""
    import av

    x = (np.random.default_rng(12).standard_normal((4410, 2)) * 3000).astype(np.int16)
    arr = (x // 256 + 128).astype(np.uint8) if fmt == "u8" else x
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=44100, layout="stereo")
        frame = av.AudioFrame.from_ndarray(arr.reshape(1, -1), format=fmt, layout="stereo")
        frame.rate = 44100
        for packet in [*s.encode(frame), *s.encode(None)]:
            c.mux(packet)


@pytest.mark.parametrize("codec, ext", [("aac", ".m4a"), ("opus", ".opus"), ("alac", ".m4a"), ("wma", ".wma"),
                                        ("pcm_s16le", ".mka"), ("pcm_u8", ".mka")])
def test_decoded_samples_are_ffmpegs_own_conversion_to_float(tmp_path, codec, ext):
    """The decoders' frames (float, 8-, 16- or 32-bit integer, planar or packed) converted in numpy are, bit
    for bit, what FFmpeg's resampler makes of them."""
    import av

    from superres.decode import av_blocks, encode_audio

    path = tmp_path / f"x{ext}"
    if codec.startswith("pcm"):
        _pcm_mka(path, codec, "s16" if codec == "pcm_s16le" else "u8")
    else:
        encode_audio(str(path), synth(0.7, rate=44100, channels=2, seed=11) * 0.5, 44100, codec,
                     None if codec == "alac" else 128000)
    ours = np.concatenate(list(av_blocks(path, 1000)))
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="dbl", layout=stream.layout, rate=stream.rate)
        frames = [o.to_ndarray().reshape(-1, 2) for f in c.decode(stream) for o in resampler.resample(f)]
        frames += [o.to_ndarray().reshape(-1, 2) for o in resampler.resample(None)]
    ffmpeg = np.concatenate(frames)
    assert ours.shape == ffmpeg.shape and ours.dtype == np.float64
    np.testing.assert_array_equal(ours, ffmpeg)


def test_a_stream_that_changes_its_layout_or_rate_midway_is_decoded_at_the_streams_own(tmp_path):
    """Concatenated ADTS files (stereo, mono, stereo; 44.1 then 22.05 kHz): every frame comes out in the stream's
    layout and at its rate, as FFmpeg's resampler makes them, none reinterpreted nor lost."""
    import av

    from superres.decode import av_blocks, encode_audio

    t = np.arange(44100) / 44100
    tone = np.sin(2 * np.pi * 440 * t)[:, None] * 0.3
    parts = {"stereo": (tone * [1.0, 0.5], 44100), "mono": (tone, 44100), "low": (tone[::2] * [1.0, 0.5], 22050)}
    for name, (x, rate) in parts.items():
        encode_audio(str(tmp_path / f"{name}.aac"), x, rate, "aac", 96000)
    for names in (["stereo", "mono", "stereo"], ["stereo", "low"]):
        path = tmp_path / ("-".join(names) + ".aac")
        path.write_bytes(b"".join((tmp_path / f"{n}.aac").read_bytes() for n in names))
        with av.open(str(path)) as c:
            frames = [(f.layout.name, f.sample_rate, f.samples) for f in c.decode(c.streams.audio[0])]
        assert len({f[:2] for f in frames}) == 2  # the change is there to decode
        x = np.concatenate(list(av_blocks(path, 1 << 14)))
        # The stream's rate throughout: 22.05 kHz frames count twice.
        assert x.shape == (sum(n * 44100 // r for _, r, n in frames), 2)
        if "mono" in names:
            first = sum(n for lay, _, n in frames[:[f[0] for f in frames].index("mono")])
            mono = x[first:first + sum(n for lay, _, n in frames if lay == "mono")]
            assert np.array_equal(mono[:, 0], mono[:, 1]) and np.abs(mono).max() > 0.2
        else:  # the 440 Hz tone stays at 440 Hz
            tail = x[-30000:-4000, 0] * np.hanning(26000)
            assert abs(np.argmax(np.abs(np.fft.rfft(tail))) * 44100 / 26000 - 440) < 5
