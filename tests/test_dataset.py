import json

import numpy as np
import pytest

from conftest import write_synth
from superres.audio import fit_length, naive_upsample, read_audio, sinc_upsample
from superres.dataset import build_dataset, full_windows, load_meta, open_split, split_point
from superres.encoding import bits_to_int16
from superres.errors import UserError
from superres.scan import scan


@pytest.fixture
def scanned(tmp_path):
    write_synth(tmp_path / "orig" / "s1.flac", 1.0, channels=2, seed=5)
    write_synth(tmp_path / "orig" / "s2.wav", 0.5, channels=1, seed=6)
    scan(tmp_path / "orig", tmp_path / "22k", log=lambda s: None)
    return tmp_path


def test_dataset_sinc_pcm_variant(scanned):
    # The sbr architecture's dataset: sinc-upsampled input stored as plain int16 samples.
    meta = build_dataset(scanned / "22k", scanned / "ds", window=256, log=lambda s: None, input="sinc",
                         encoding="pcm")
    assert meta["input"] == "sinc" and meta["encoding"] == "pcm"
    tx, ty = open_split(scanned / "ds", "train")
    assert tx.dtype == np.int16 and tx.shape == ty.shape and tx.shape[1] == 256
    low, _ = read_audio(scanned / "22k" / "s1.wav", "int16")
    n = meta["songs"][0]["frames"]
    up = fit_length(sinc_upsample(low), n)
    k = full_windows(split_point(n), 256, 256)
    np.testing.assert_array_equal(tx[:k], up[:k * 256, 0].reshape(k, 256))
    with pytest.raises(UserError, match="encoding"):
        build_dataset(scanned / "22k", scanned / "ds2", window=256, log=lambda s: None, encoding="float")


def test_split_point():
    assert split_point(100) == 80
    assert split_point(101) == 80
    assert split_point(1000, 0.5) == 500


def test_dataset_split_targets_and_inputs(scanned):
    meta = build_dataset(scanned / "22k", scanned / "ds", window=50, log=lambda s: None)
    assert meta["stage"] == "dataset" and meta["window"] == 50 and meta["hop"] == 50
    assert meta["factor"] == 2 and meta["high_rate"] == 44100 and meta["low_rate"] == 22050
    assert meta["encoding"] == "bits" and "MSB" in meta["encoding_description"]
    assert [s["source"] for s in meta["songs"]] == ["s1.flac", "s2.wav"]
    assert load_meta(scanned / "ds") == meta

    tx, ty = open_split(scanned / "ds", "train")
    vx, vy = open_split(scanned / "ds", "test")
    assert isinstance(tx, np.memmap) and tx.dtype == np.uint8 and ty.dtype == np.int16

    # Rebuild the expected arrays from the audio files by hand, song by song, channel by channel.
    exp = {"train": ([], []), "test": ([], [])}
    for song in ["s1", "s2"]:
        ext = "flac" if song == "s1" else "wav"
        ref, _ = read_audio(scanned / "orig" / f"{song}.{ext}", "int16")
        low, _ = read_audio(scanned / "22k" / f"{song}.wav", "int16")
        n = ref.shape[0]
        up = fit_length(naive_upsample(low), n)
        s = split_point(n)
        for part, (a, b) in {"train": (0, s), "test": (s, n)}.items():
            k = full_windows(b - a, 50, 50)
            for c in range(ref.shape[1]):
                exp[part][0].append(up[a:a + k * 50, c].reshape(k, 50))
                exp[part][1].append(ref[a:a + k * 50, c].reshape(k, 50))
    for part, (x, y) in {"train": (tx, ty), "test": (vx, vy)}.items():
        np.testing.assert_array_equal(bits_to_int16(x), np.concatenate(exp[part][0]))
        np.testing.assert_array_equal(y, np.concatenate(exp[part][1]))
        assert meta["counts"][part] == len(y)
    # 80/20 in time: about four times as many training windows.
    assert 3.5 < meta["counts"]["train"] / meta["counts"]["test"] < 4.5


def test_dataset_with_overlapping_hop(scanned):
    meta = build_dataset(scanned / "22k", scanned / "ds", window=40, hop=10, log=lambda s: None)
    _, y = open_split(scanned / "ds", "train")
    # Consecutive windows of one stream overlap by 30 steps.
    np.testing.assert_array_equal(y[0, 10:], y[1, :30])
    assert meta["hop"] == 10 and y.shape[1] == 40


def test_dataset_refuses_bad_settings_and_missing_scan(scanned):
    with pytest.raises(UserError, match="window"):
        build_dataset(scanned / "22k", scanned / "ds", window=49)
    with pytest.raises(UserError, match="manifest not found"):
        build_dataset(scanned / "nothing", scanned / "ds")
    with pytest.raises(UserError, match="too short"):
        build_dataset(scanned / "22k", scanned / "ds", window=40000)


def test_dataset_refuses_other_format_version(scanned):
    m = json.loads((scanned / "22k" / "manifest.json").read_text())
    m["format_version"] = 99
    (scanned / "22k" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="format version 99"):
        build_dataset(scanned / "22k", scanned / "ds")


def test_open_split_checks_shapes(scanned):
    build_dataset(scanned / "22k", scanned / "ds", log=lambda s: None)
    np.save(scanned / "ds" / "test_y.npy", np.zeros((3, 50), dtype=np.int16))
    with pytest.raises(UserError, match="shapes"):
        open_split(scanned / "ds", "test")
    (scanned / "ds" / "test_x.npy").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt"):
        open_split(scanned / "ds", "test")


def test_long_windows_are_encoded_in_blocks_of_bounded_size(scanned, monkeypatch):
    """Memory while encoding is bounded in steps, not windows: 2048-step windows 64 apart are encoded a few
    hundred at a time (the blog's 50-step windows 8192 at a time), and the arrays are the same."""
    import superres.dataset as ds

    steps = []
    real = ds.int16_to_bits

    def counting(x):
        steps.append(x.size)
        return real(x)

    monkeypatch.setattr(ds, "int16_to_bits", counting)
    meta = build_dataset(scanned / "22k", scanned / "ds", window=2048, hop=64, log=lambda s: None)
    assert max(steps) <= 8192 * 50 and sum(steps) == 2048 * sum(meta["counts"].values())
    x, y = open_split(scanned / "ds", "train")
    ref, _ = read_audio(scanned / "orig" / "s1.flac", "int16")
    low, _ = read_audio(scanned / "22k" / "s1.wav", "int16")
    for i in (0, 199, 200, 201, 519):  # either side of a block's end
        np.testing.assert_array_equal(y[i], ref[i * 64:i * 64 + 2048, 0])
        np.testing.assert_array_equal(bits_to_int16(x[i]), naive_upsample(low)[i * 64:i * 64 + 2048, 0])
