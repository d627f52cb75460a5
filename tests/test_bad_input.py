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
    from superres import batch

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
    failures = batch.predict_paths(pipeline["model"], [src], out, chunk_seconds=0.1, log=lambda s: None,
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


@pytest.mark.parametrize("name, subtype", [("b.ogg", "PCM_16"), ("b.OGG", "PCM_24"), ("b.mp3", "PCM_16"),
                                           ("b.flac", "FLOAT"), ("b", "PCM_16")])
def test_an_output_the_writer_cannot_write_losslessly_is_refused_before_any_work(tmp_path, name, subtype):
    """Every writer refuses an extension (or a sample format in it) libsndfile cannot write losslessly with one
    line naming the file and what it can write, before anything is created; so does the API, up front."""
    import superres
    from superres.audio import open_atomic_writer, write_audio

    out = tmp_path / name
    data = synth(0.01, 44100, 1).astype(np.float32)
    with pytest.raises(UserError, match=rf"{name}: .*\.wav.*\.flac") as e:
        write_audio(out, data, 44100, subtype)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(UserError, match=rf"{name}: .*\.wav.*\.flac"):
        with open_atomic_writer(out, 44100, 1, subtype):
            pytest.fail("the writer opened")
    assert list(tmp_path.iterdir()) == []
    src = write_synth(tmp_path / "in" / "a.wav", 0.05, rate=22050, channels=1)
    api_subtype = {"PCM_16": "16", "PCM_24": "24", "FLOAT": "float"}[subtype]
    # Refused before the model is looked for: this one does not exist.
    with pytest.raises(UserError, match=rf"{name}: .*\.wav.*\.flac"):
        superres.upsample_file(src, out, model=tmp_path / "no-model", subtype=api_subtype)
    assert not out.exists()


def _edit_json(path, edit):
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


@pytest.mark.parametrize("edit, phrase", [
    (lambda m: m["files"][0].pop("frames_high"), "files entry 1 (a_stereo.flac) has no 'frames_high'"),
    (lambda m: m["files"][1].pop("output"), "files entry 2 (c_48k.wav) has no 'output'"),
    (lambda m: m["files"][2].update(channels="2"), "files entry 3 (sub/b_mono.wav) has channels = '2', not a whole"),
    (lambda m: m["files"][0].update(reference=7), "files entry 1 (a_stereo.flac) has reference = 7, not a string"),
    (lambda m: m["files"].append("x.wav"), "files entry 4 is not an object"),
    (lambda m: m.pop("files"), "incomplete or edited (no 'files' list)"),
    (lambda m: m.pop("input_dir"), "incomplete or edited (input_dir is None, not a string)"),
])
@pytest.mark.parametrize("script", ["20-make-dataset.py", "eval.py"])
def test_an_edited_scan_manifest_is_one_line_naming_the_entry_and_the_key(pipeline, tmp_path, edit, phrase, script):
    import shutil

    scan = tmp_path / "22k"
    shutil.copytree(pipeline["scan"], scan)
    _edit_json(scan / "manifest.json", edit)
    args = (["--input", scan, "--output", tmp_path / "ds"] if script == "20-make-dataset.py" else
            ["--scan", scan, "--predicted", pipeline["predicted"]])
    proc = run_script(script, *args, "--originals", pipeline["original"], check=False)
    assert_clean_error(proc, f"{scan / 'manifest.json'}: {phrase}", "re-run 10-scan.py")
    assert len([ln for ln in proc.stderr.splitlines() if "error:" in ln]) == 1


def test_a_rerun_of_the_scan_redoes_entries_its_manifest_has_lost(pipeline, tmp_path):
    """The scan's own manifest, hand-edited: a damaged entry is redone (and the manifest rewritten whole), not
    taken for done."""
    out = tmp_path / "22k"
    run_script("10-scan.py", "--input", pipeline["original"], "--output", out)
    _edit_json(out / "manifest.json", lambda m: m["files"][0].pop("frames_high"))
    proc = run_script("10-scan.py", "--input", pipeline["original"], "--output", out)
    assert "wrote a_stereo.wav" in proc.stdout and proc.stdout.count("skip ") == 2
    assert all("frames_high" in e for e in json.loads((out / "manifest.json").read_text())["files"])


def test_edited_dataset_and_prediction_manifests_are_one_line(pipeline, tmp_path):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(pipeline["dataset"], ds)
    _edit_json(ds / "meta.json", lambda m: m["songs"][1].pop("windows"))
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", ds, "--model", tmp_path / "m", "--epochs",
                      "1", *TINY, check=False)
    assert_clean_error(proc, f"{ds / 'meta.json'}: songs entry 2 (", "has no 'windows'", "re-run 20-make-dataset.py")
    assert not (tmp_path / "m").exists()

    pred = tmp_path / "pred"
    shutil.copytree(pipeline["predicted"], pred)
    from superres.manifest import relative_path

    # The copy's manifest names the model as seen from the copy; its first entry has lost its output.
    _edit_json(pred / "manifest.json", lambda m: (m.update(model_dir=relative_path(pipeline["model"], pred)),
                                                  m["files"][0].pop("output")))
    proc = run_script("eval.py", "--predicted", pred, "--scan", pipeline["scan"], check=False)
    assert_clean_error(proc, f"{pred / 'manifest.json'}: files entry 1 (", "has no 'output'", "--overwrite")
    # Predicting into that folder again: the damaged entry is not taken for a file of this model's; --overwrite
    # redoes it and writes a whole manifest again.
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], "--output", pred,
                      check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], "--output", pred, "--overwrite")
    assert all("output" in e for e in json.loads((pred / "manifest.json").read_text())["files"])
    run_script("eval.py", "--predicted", pred, "--scan", pipeline["scan"])


@pytest.fixture
def loops(tmp_path):
    """A folder with a good file, a link to itself and two links to each other; a folder link to itself."""
    d = tmp_path / "in"
    write_synth(d / "good.wav", 0.1, rate=44100, channels=1)
    (d / "self.wav").symlink_to("self.wav")
    (d / "a.flac").symlink_to("b.flac")
    (d / "b.flac").symlink_to("a.flac")
    (tmp_path / "loop").symlink_to("loop")
    return tmp_path


def test_symbolic_link_loops_in_an_input_folder_are_reported_per_file(pipeline, loops):
    from superres.audio import list_audio_files

    problems = []
    assert list_audio_files(loops / "in", problems=problems) == [__import__("pathlib").Path("good.wav")]
    assert [p.name for p, _ in problems] == ["a.flac", "b.flac", "self.wav"]
    assert all("symbolic link loop" in msg and "skipped" in msg for _, msg in problems), problems
    for script, args in (("10-scan.py", ["--input", loops / "in", "--output", loops / "22k"]),
                         ("rnn-super-resolution.py", ["--predict", "--model", pipeline["model"], loops / "in",
                                                      loops / "in" / "self.wav", "--output", loops / "up"])):
        proc = run_script(script, *args, check=False)
        assert_clean_error(proc, "self.wav: symbolic link loop", "a.flac: symbolic link loop", code=1)
        assert "broken symbolic link" not in proc.stderr
    assert (loops / "22k" / "good.wav").is_file() and (loops / "up" / "good.wav").is_file()


def test_a_symbolic_link_loop_as_the_folder_is_one_line(loops):
    for args in (["--input", loops / "loop", "--output", loops / "22k"],
                 ["--input", loops / "in", "--output", loops / "loop"]):
        proc = run_script("10-scan.py", *args, check=False)
        assert_clean_error(proc, f"{loops / 'loop'}: symbolic link loop")
        assert len([ln for ln in proc.stderr.splitlines() if "error:" in ln]) == 1


def _deny(monkeypatch, name, how="open"):
    """Make reading files named ``name`` fail with PermissionError, as ``chmod 000`` (on the file, or on its
    folder for ``how="stat"``) does for a user other than root; tests may run as root, who reads anything."""
    import builtins
    import pathlib

    def denied(path):
        return pathlib.Path(str(path)).name == name

    if how == "open":
        real = builtins.open

        def fake_open(file, *args, **kwargs):
            if isinstance(file, (str, bytes, pathlib.PurePath)) and denied(file):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake_open)
    else:
        real_stat = pathlib.Path.stat

        def fake_stat(self, *args, **kwargs):
            if denied(self):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real_stat(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "stat", fake_stat)


@pytest.mark.parametrize("name, how", [("meta.json", "open"), ("meta.json", "stat"), ("train_x.npy", "open"),
                                       ("test_y.npy", "open")])
def test_a_dataset_file_that_cannot_be_read_is_one_line(pipeline, tmp_path, monkeypatch, name, how):
    _deny(monkeypatch, name, how)
    model = tmp_path / "m"
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model", model,
                      "--epochs", "1", *TINY, check=False)
    assert_clean_error(proc, f"{pipeline['dataset'] / name}: cannot be read (permission denied)", "permissions")
    assert len([ln for ln in proc.stderr.splitlines() if "error:" in ln]) == 1
    assert "delete" not in proc.stderr and "corrupt" not in proc.stderr  # it is neither: only unreadable


def test_a_run_folder_file_that_cannot_be_read_is_one_line(pipeline, tmp_path, monkeypatch):
    import shutil

    model = tmp_path / "m"
    shutil.copytree(pipeline["model"], model)
    _deny(monkeypatch, "history.csv")
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model", model,
                      "--epochs", "3", *TINY, check=False)
    assert_clean_error(proc, f"{model / 'history.csv'}: cannot be read (permission denied)")


@pytest.mark.parametrize("seconds", [1e308, 1e6, float("nan"), 0])
def test_the_api_refuses_a_chunk_length_before_loading_a_model(tmp_path, seconds):
    import superres

    src = write_synth(tmp_path / "a.wav", 0.05, rate=22050, channels=1)
    with pytest.raises(UserError, match="chunk_seconds must be a positive number of seconds up to 48695"):
        superres.upsample_file(src, tmp_path / "b.wav", model=tmp_path / "no-model", chunk_seconds=seconds)
