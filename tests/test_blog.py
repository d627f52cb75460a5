"""make blog's helpers: the excerpt it trains on, and the README summary written from its evaluation."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import excerpt  # noqa: E402
from superres.manifest import FORMAT_VERSION  # noqa: E402
from superres.report import BLOG_MAE, blog_markdown  # noqa: E402
from superres.runs import make_config  # noqa: E402


def test_excerpt_cuts_the_span_and_mixes_down(tmp_path):
    rate = 44100
    t = np.arange(3 * rate) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)], axis=1)
    song = tmp_path / "song.wav"
    sf.write(song, stereo, rate, subtype="PCM_16")
    before = song.read_bytes()
    out = tmp_path / "out" / "song.wav"
    assert excerpt.main([str(song), str(out), "--start", "1", "--seconds", "1.5", "--mono"]) == 0
    x, r = sf.read(out, always_2d=True)
    assert r == rate and x.shape == (int(1.5 * rate), 1)
    # The mean of the two channels, from second 1 on (16-bit rounding allowed).
    np.testing.assert_allclose(x[:, 0], stereo[rate:rate + len(x)].mean(axis=1), atol=2 / 32768)
    assert song.read_bytes() == before
    # Without --mono and --seconds: both channels to the end.
    assert excerpt.main([str(song), str(out), "--start", "2"]) == 0
    assert sf.info(out).frames == rate and sf.info(out).channels == 2


def test_excerpt_refuses_a_start_past_the_end(tmp_path, capsys):
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros((4410, 1)), 44100, subtype="PCM_16")
    assert excerpt.main([str(song), str(tmp_path / "o.wav"), "--start", "5"]) == 2
    assert "past the end" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def _model_dir(tmp_path, stopped_early, val=(0.03, 0.02, 0.025)):
    model = tmp_path / "models" / "net"
    model.mkdir(parents=True)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    meta = {"stage": "dataset", "format_version": FORMAT_VERSION, "scan_dir": "../22k", "high_rate": 44100,
            "low_rate": 22050, "factor": 2, "input": "naive", "window": 50, "hop": 50, "bits": 16,
            "encoding": "bits", "train_fraction": 0.8, "counts": {"train": 4000, "test": 1000}, "songs": []}
    (dataset / "meta.json").write_text(json.dumps(meta))
    settings = {"arch": "bilstm", "units": 300, "dense": 500, "dense2": 20, "lr": 1e-4, "decay": 0.0,
                "batch_size": 64, "seed": 0}
    (model / "config.json").write_text(json.dumps(make_config(meta, dataset, settings, model)))
    (model / "state.json").write_text(json.dumps({"stopped_early": stopped_early}))
    with open(model / "history.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "loss", "val_loss", "val_mae_16bit", "seconds", "samples_per_s", "steps"])
        for e, v in enumerate(val, 1):
            w.writerow([e, v, v, v * 32768, 1800, 3000, 100 * e])
    return model


def _result(network_mae):
    metrics = ["MAE", "SNR", "LSD", "LSD-HF", "HF energy", "SNR-LF"]
    mean = {m: dict(zip(metrics, row)) for m, row in {
        "naive": [1000, 10, 2, 3, 10, 15], "linear": [600, 20, 2, 3, 0, 25],
        "sinc": [400, 30, 3, 4, -50, 40], "net": [network_mae, 25, 1.5, 2, -3, 39],
        "net [onnx-int8]": [network_mae + 5, 24, 1.6, 2.1, -3, 38]}.items()}
    return {"methods": ["naive", "linear", "sinc", "net", "net [onnx-int8]"], "metrics": metrics, "mean": mean,
            "part": "test part (last 20%)"}


@pytest.mark.parametrize("network_mae, beats_naive, beats_sinc", [(300, True, True), (700, True, False),
                                                                  (1200, False, False)])
def test_blog_summary_is_written_from_the_numbers(tmp_path, network_mae, beats_naive, beats_sinc):
    text = blog_markdown(_result(network_mae), _model_dir(tmp_path, True), "test machine", "a song")
    assert f"| network (`net`) | {network_mae:.1f} | {BLOG_MAE['network']} |" in text
    assert f"| naive upsample | 1000.0 | {BLOG_MAE['naive']} |" in text
    assert "| original | 0 | 0 |" in text
    assert ("beats naive" in text) == beats_naive and ("does not beat naive" in text) != beats_naive
    assert ("it beats sinc" in text) == beats_sinc and ("does not beat sinc" in text) != beats_sinc
    assert f"{network_mae / 400:.2f}x" in text and "1.00 dB below sinc's" in text
    # Training figures from history.csv and state.json: 3 epochs of 1800 s, best epoch 2.
    assert "3 epochs (300 batches of 64 windows), 1.50 h" in text
    assert "best validation MAE 655.4 at epoch 2" in text and "stopped after 1 epoch(s) without a better" in text
    assert "4,000 training and 1,000 test windows" in text and "Machine: test machine." in text
    assert f"| `net [onnx-int8]` | {network_mae + 5:.2f} |" in text
    assert "| sinc | 400.00 | 30.00 | 3.00 | 4.00 | -50.00 | 40.00 |" in text


def test_blog_summary_says_when_training_was_not_stopped_by_patience(tmp_path):
    text = blog_markdown(_result(300), _model_dir(tmp_path, False))
    assert "stopped (epoch limit, or by hand) 1 epoch(s) after its best" in text and "Machine:" not in text
    # The dataset is git-ignored: a shipped model folder still reports, without the window counts.
    (tmp_path / "dataset" / "meta.json").unlink()
    assert "windows of" not in blog_markdown(_result(300), tmp_path / "models" / "net")
    still = blog_markdown(_result(300), _model_dir(tmp_path / "b", False, val=(0.03, 0.02, 0.01)))
    assert "still improving when it was stopped" in still and "best validation MAE 327.7 at epoch 3" in still
