"""Every kind of bad input gets one clear line, a non-zero exit, no partial output and an untouched input."""

import errno
import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from conftest import TINY, run_script, synth, write_synth
from superres.errors import UserError


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_clean_error(proc, *phrases, code=2):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    for phrase in phrases:
        assert phrase in proc.stderr, (phrase, proc.stderr)


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    good = write_synth(d / "good.wav", 0.1, rate=22050, channels=2)
    (d / "empty.wav").write_bytes(b"")
    (d / "truncated_header.wav").write_bytes(good.read_bytes()[:20])
    (d / "text.wav").write_text("these are not the samples you are looking for\n")
    sf.write(d / "zero_length.wav", np.zeros((0, 2)), 22050)
    nan = synth(0.1, 22050, 1)
    nan[100] = np.nan
    nan[200] = np.inf
    sf.write(d / "nan.wav", nan, 22050, subtype="FLOAT")
    sf.write(d / "rate_4000.wav", synth(0.1, 4000, 1), 4000)
    return d


def test_predict_batch_reports_each_bad_file_and_finishes_the_rest(pipeline, bad_folder, tmp_path):
    before = digest(bad_folder)
    out = tmp_path / "out"
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], bad_folder,
                      bad_folder / "missing.wav", "--output", out, check=False)
    assert_clean_error(proc, "7 file(s) failed", code=1)
    expected = {
        "empty.wav": "empty file (0 bytes)",
        "truncated_header.wav": "not a readable audio file",
        "text.wav": "not a readable audio file",
        "zero_length.wav": "contains no audio frames",
        "nan.wav": "2 NaN or infinite sample(s)",
        "rate_4000.wav": "unsupported sample rate 4000 Hz",
        "missing.wav": "file not found",
    }
    summary = proc.stderr[proc.stderr.index("file(s) failed"):].splitlines()[1:]
    assert len(summary) == 7
    for name, phrase in expected.items():
        line = next(ln for ln in summary if f"{name}:" in ln)
        assert phrase in line, line
    # Only the good file was written; nothing partial, no temporary files; inputs untouched.
    assert sorted(p.name for p in out.iterdir()) == ["good.wav", "manifest.json"]
    assert sf.info(out / "good.wav").frames == 2 * sf.info(bad_folder / "good.wav").frames
    assert digest(bad_folder) == before
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"],
                      bad_folder / "missing.wav", "--output", out, check=False)
    assert_clean_error(proc, "missing.wav: file not found", code=1)


def test_short_silent_and_clipped_inputs_are_processed_with_notes(pipeline, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "short.wav", synth(10 / 22050, 22050, 1), 22050, subtype="PCM_16")
    sf.write(d / "silent.wav", np.zeros((2205, 2)), 22050, subtype="PCM_16")
    loud = np.clip(3 * synth(0.1, 22050, 1), -1, 1)
    sf.write(d / "clipped.wav", loud, 22050, subtype="PCM_16")
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], d, "--output",
                      tmp_path / "out")
    assert sf.info(tmp_path / "out" / "short.wav").frames == 20
    assert sf.info(tmp_path / "out" / "silent.wav").frames == 4410
    assert "silent.wav: the audio is all silence" in proc.stdout
    assert "clipped.wav:" in proc.stdout and "at full scale (clipped input)" in proc.stdout


def test_output_folder_not_writable_and_equal_to_input(pipeline, tmp_path):
    src = write_synth(tmp_path / "in" / "a.wav", 0.05, rate=22050, channels=1)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], src, "--output",
                      blocker / "out", check=False)
    assert_clean_error(proc, "cannot write there")
    before = digest(src.parent)
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], src, "--output",
                      src.parent, check=False)
    assert_clean_error(proc, "output path equals the input path", code=1)
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], src.parent,
                      "--output", src.parent, check=False)
    assert_clean_error(proc, "the output folder is the input folder")
    assert digest(src.parent) == before


def test_unreadable_input(monkeypatch, tmp_path):
    from superres import audio

    src = write_synth(tmp_path / "a.wav", 0.05, rate=22050, channels=1)
    # Root can read any file, so simulate the permission check failing.
    monkeypatch.setattr(audio.os, "access", lambda path, mode: False)
    with pytest.raises(UserError, match="cannot be read .permission denied."):
        audio.audio_info(src)


def test_disk_full_mid_write_leaves_nothing(monkeypatch, pipeline, tmp_path):
    from superres import predict

    src = write_synth(tmp_path / "in" / "long.wav", 1.0, rate=22050, channels=2)
    real_write = sf.SoundFile.write
    calls = {"n": 0}

    def failing_write(self, data):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing_write)
    out = tmp_path / "out"
    failures = predict.predict_paths(pipeline["model"], [src], out, chunk_seconds=0.1, log=lambda s: None,
                                     show_progress=False)
    assert calls["n"] >= 3
    assert len(failures) == 1
    msg = failures[0][1]
    assert "long.wav: cannot write (No space left on device); free some space and re-run" in msg
    assert list(out.iterdir()) == []  # no partial or temporary file, and no manifest of nothing


def test_scan_batch_skips_bad_files_and_lists_them(tmp_path):
    orig = tmp_path / "orig"
    write_synth(orig / "good.flac", 0.5, channels=2)
    (orig / "text.wav").write_text("not audio")
    (orig / "empty.flac").write_bytes(b"")
    nan = synth(0.2, 44100, 1)
    nan[5] = np.nan
    sf.write(orig / "nan.wav", nan, 44100, subtype="DOUBLE")
    before = digest(orig)
    proc = run_script("10-scan.py", "--input", orig, "--output", tmp_path / "22k", check=False)
    assert_clean_error(proc, "3 file(s) failed and were left out", "text.wav: not a readable audio file",
                       "empty.flac: empty file", "nan.wav: contains 1 NaN", code=1)
    m = json.loads((tmp_path / "22k" / "manifest.json").read_text())
    assert [e["source"] for e in m["files"]] == ["good.flac"]
    assert sorted(p.name for p in (tmp_path / "22k").iterdir()) == ["good.wav", "manifest.json"]
    assert digest(orig) == before
    (orig / "good.flac").unlink()
    proc = run_script("10-scan.py", "--input", orig, "--output", tmp_path / "22k2", check=False)
    assert_clean_error(proc, "none of the 3 audio files could be used")


def test_rerun_over_an_older_version_redoes_it_and_another_stage_is_refused(tmp_path):
    """An output folder of the same stage in an older format is rewritten (rerunning is what the version
    message asks for); one holding another stage's manifest is refused and left as it was."""
    from superres.scan import scan

    orig = tmp_path / "orig"
    write_synth(orig / "a.wav", 0.3, channels=1)
    old = tmp_path / "old"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"stage": "scan", "format_version": 1, "files": [
        {"source": "a.wav", "output": "a.wav"}]}))
    manifest, _ = scan(orig, old, log=lambda s: None)
    assert json.loads((old / "manifest.json").read_text()) == manifest
    assert manifest["format_version"] > 1 and sf.info(old / "a.wav").samplerate == 22050

    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"stage": "predict", "format_version": 1, "files": []}))
    before = digest(other)
    with pytest.raises(UserError, match="not a scan manifest"):
        scan(orig, other, log=lambda s: None)
    assert digest(other) == before


def test_model_folder_of_another_version_and_dataset_mismatch(pipeline, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(pipeline["model"], model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["format_version"] = 99
    (model / "config.json").write_text(json.dumps(cfg))
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", model, check=False)
    assert_clean_error(proc, "written by format version 99", "retrain it")

    # A dataset with another window than the model was trained on: resuming refuses it.
    ds = tmp_path / "ds40"
    run_script("20-make-dataset.py", "--input", pipeline["scan"], "--output", ds, "--window", "40")
    model2 = tmp_path / "model2"
    shutil.copytree(pipeline["model"], model2)
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", ds, "--model", model2, "--epochs", "3",
                      check=False)
    assert_clean_error(proc, "built with other settings than the model")


def test_corrupt_and_pickled_npy_are_refused(pipeline, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(pipeline["dataset"], ds)
    data = (ds / "train_x.npy").read_bytes()
    (ds / "train_x.npy").write_bytes(data[:len(data) // 2])  # truncated
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", ds, "--model", tmp_path / "m",
                      "--epochs", "1", *TINY, check=False)
    assert_clean_error(proc, "train_x.npy: corrupt array")
    np.save(ds / "train_x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", ds, "--model", tmp_path / "m",
                      "--epochs", "1", *TINY, check=False)
    assert_clean_error(proc, "train_x.npy: corrupt array", "Python objects")  # never unpickled


def test_debug_shows_the_traceback(tmp_path):
    proc = run_script("10-scan.py", "--input", tmp_path / "missing", "--output", tmp_path / "o", "--debug",
                      check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "UserError" in proc.stderr


def test_no_pickle_anywhere():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [p for p in (root / "superres").rglob("*.py")] + list(root.glob("*.py"))
    text = "\n".join(p.read_text() for p in sources)
    assert "import pickle" not in text and "allow_pickle=True" not in text
    assert "safe_mode=False" not in text
    assert text.count("allow_pickle=False") >= 1 and text.count("safe_mode=True") >= 2
