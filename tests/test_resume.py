"""Training survives being killed: a re-run resumes from the last finished epoch."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, TINY, TINY_EPOCHS, run_script


def test_resume_after_sigkill(pipeline, tmp_path):
    model = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "rnn-super-resolution.py"), "--train", "--quiet", "--dataset",
           str(pipeline["dataset"]), "--model", str(model), "--epochs", "1000", *TINY_EPOCHS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = model / "state.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if state.is_file() and json.loads(state.read_text())["epochs_done"] >= 1:
                break
            assert proc.poll() is None, "training ended on its own before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("training made no progress in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = json.loads(state.read_text())["epochs_done"]
    assert 1 <= done < 1000
    leftovers = [p.name for p in model.iterdir() if p.name.startswith(".")]
    target = done + 1
    out = run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", pipeline["dataset"], "--model",
                     model, "--epochs", target, *TINY_EPOCHS).stdout
    assert f"resuming {model} after epoch {done}" in out
    rows = list(csv.DictReader(open(model / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, target + 1))
    assert json.loads(state.read_text())["epochs_done"] == target
    # A kill during a checkpoint write may leave a temporary file, never a damaged checkpoint.
    assert all(name.endswith(".tmp.keras") or name.endswith(".tmp") or ".json." in name for name in leftovers)


def test_resume_refuses_changed_settings(pipeline, tmp_path):
    import shutil

    model = tmp_path / "run"
    shutil.copytree(pipeline["model"], model)  # a run of 2 epochs with TINY
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model", model,
                      "--epochs", "2", "--units", "8", check=False)
    assert proc.returncode == 2 and "units=4, not 8" in proc.stderr
    # Asking for no more epochs than done is a no-op, not a retrain.
    out = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model", model,
                     "--epochs", "2").stdout
    assert "nothing to do" in out


def test_a_model_shipped_without_last_checkpoint_is_left_alone(pipeline, tmp_path):
    import shutil

    model = tmp_path / "shipped"
    shutil.copytree(pipeline["model"], model)
    (model / "last.keras").unlink()  # as models/bilstm-full ships
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    out = run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", pipeline["dataset"], "--model",
                     model, "--epochs", "5", *TINY).stdout
    assert "without last.keras" in out and "nothing to train" in out
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before
    # A folder whose first epoch never finished (config.json only) still starts over.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(pipeline["model"] / "config.json", fresh)
    run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", pipeline["dataset"], "--model",
               fresh, "--epochs", "1", *TINY)
    assert json.loads((fresh / "state.json").read_text())["epochs_done"] == 1


def test_history_written_before_a_column_was_added_still_reads(tmp_path):
    from superres.runs import read_history, write_history

    (tmp_path / "history.csv").write_text("epoch,loss,val_loss,val_mae_16bit,learning_rate,seconds,samples_per_s\n"
                                          "1,3.0,2.0,100.0,0.001,10.0,5000.0\n")
    rows = read_history(tmp_path)
    rows.append({"epoch": 2, "loss": 2.5, "val_loss": 1.9, "val_mae_16bit": 90.0, "learning_rate": 0.001,
                 "seconds": 10.0, "samples_per_s": 5000.0, "steps": 20})
    write_history(tmp_path / "history.csv", rows)
    again = read_history(tmp_path)
    assert [r["epoch"] for r in again] == [1, 2] and again[1]["steps"] == 20 and math.isnan(again[0]["steps"])
    # Read and written back (as a resumed run does), a count stays a whole number.
    write_history(tmp_path / "history.csv", again)
    with open(tmp_path / "history.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert written[1]["steps"] == "20" and written[0]["steps"] == "" and written[1]["probe_lsd_ratio"] == ""
    assert isinstance(read_history(tmp_path)[1]["steps"], int)


def test_patience_stops_when_validation_stops_improving_and_resumes(pipeline, tmp_path, monkeypatch):
    from superres import train

    # Validation losses that improve once, then get worse: the stop must come from --patience alone.
    losses = iter([1.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1])
    real = train._Checkpointer.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        return real(self, epoch, {**(logs or {}), "val_loss": next(losses)})

    monkeypatch.setattr(train._Checkpointer, "on_epoch_end", on_epoch_end)
    model = tmp_path / "run"
    # Big batches: one or two steps an epoch, since only the epochs count here.
    args = ["rnn-super-resolution.py", "--train", "--quiet", "--dataset", pipeline["dataset"], "--model", model,
            *TINY_EPOCHS]
    out = run_script(*args, "--epochs", "6", "--patience", "2").stdout
    state = json.loads((model / "state.json").read_text())
    assert state["epochs_done"] == 4 and state["best_epoch"] == 2 and state["stopped_early"] == 4
    assert "no better validation loss for 2 epoch(s), since epoch 2" in out
    assert len(list(csv.DictReader(open(model / "history.csv")))) == 4
    # Run again with the same patience: nothing to do; with more, it goes on and stops again.
    assert "nothing to do" in run_script(*args, "--epochs", "6", "--patience", "2").stdout
    run_script(*args, "--epochs", "6", "--patience", "3")
    state = json.loads((model / "state.json").read_text())
    assert state["epochs_done"] == 5 and state["stopped_early"] == 5 and state["best_epoch"] == 2


def test_a_run_resumed_on_other_windows_measures_its_best_anew(pipeline, tmp_path, monkeypatch):
    import shutil

    from superres import train

    # The same settings on fewer songs: the corpus of a run that goes on after its data grew or shrank.
    orig = tmp_path / "orig"
    shutil.copytree(pipeline["original"], orig)
    (orig / "c_48k.wav").unlink()
    run_script("10-scan.py", "--input", orig, "--output", tmp_path / "scan")
    run_script("20-make-dataset.py", "--input", tmp_path / "scan", "--output", tmp_path / "ds")
    # Epoch 3's validation loss is the best of the run (below any real one); epoch 4's, on the other windows, is
    # worse.
    losses = iter([1e-9, 2e-9])
    real = train._Checkpointer.on_epoch_end
    monkeypatch.setattr(train._Checkpointer, "on_epoch_end",
                        lambda self, epoch, logs=None: real(self, epoch, {**(logs or {}), "val_loss": next(losses)}))
    model = tmp_path / "run"
    shutil.copytree(pipeline["model"], model)  # 2 epochs, from before runs kept their window counts
    args = ["rnn-super-resolution.py", "--train", "--quiet", "--model", model, *TINY]
    out = run_script(*args, "--dataset", pipeline["dataset"], "--epochs", "3").stdout
    state = json.loads((model / "state.json").read_text())
    counts = json.loads((pipeline["dataset"] / "meta.json").read_text())["counts"]
    assert state["dataset_windows"] == [counts["train"], counts["test"]] and "measured anew" not in out
    assert state["best_epoch"] == 3 and state["best_val_loss"] == 1e-9
    fewer = json.loads((tmp_path / "ds" / "meta.json").read_text())["counts"]
    assert [fewer["train"], fewer["test"]] != state["dataset_windows"]
    # On the same windows, --patience 1 would stop after a worse epoch 4 with epoch 3 the best; on other windows
    # epoch 4's loss is the first of its kind, and the best.
    out = run_script(*args, "--dataset", tmp_path / "ds", "--epochs", "4", "--patience", "1").stdout
    assert (f"{fewer['train']} training and {fewer['test']} validation windows, where this run trained on "
            f"{counts['train']} and {counts['test']} until now; its best validation loss is measured anew from "
            "epoch 4") in out
    state = json.loads((model / "state.json").read_text())
    assert state["epochs_done"] == 4 and state["best_epoch"] == 4 and state["best_val_loss"] == 2e-9
    assert state["dataset_windows"] == [fewer["train"], fewer["test"]] and "stopped_early" not in state
