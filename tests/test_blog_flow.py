"""The blog's five commands, exactly as it writes them (no options), and the shipped models left alone."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, TINY, run_script, write_synth
from superres.errors import UserError
from superres.runs import SHIPPED_MODELS, check_not_shipped, shipped_model_dirs

#: The blog's commands, in its order, as a user types them in the folder holding the scripts.
BLOG = [["10-scan.py"], ["20-make-dataset.py"], ["rnn-super-resolution.py", "--train"],
        ["rnn-super-resolution.py", "--predict"], ["eval.py"]]


def tracked_models():
    """SHA-256 of every file of the shipped model folders that git tracks (what a clone ships; a run folder
    kept in git while it trains, models/cgen-base, may be written by that training meanwhile)."""
    files = subprocess.run(["git", "ls-files", *(f"models/{name}" for name in SHIPPED_MODELS)], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    assert files
    return {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest() for f in files}


def test_the_blogs_five_commands_as_written(tmp_path):
    # A user's folder: the four scripts and one short stereo song in data/original. 0.04 s: 56 training
    # windows of the blog's 50 steps (one batch of its 64 an epoch) and 14 test windows for eval.py, so that the
    # full-size network's default 10 epochs cost little more than building and tracing it; the commands, the
    # network and the defaults are the blog's whatever the length.
    for script in ("10-scan.py", "20-make-dataset.py", "rnn-super-resolution.py", "eval.py"):
        shutil.copy(ROOT / script, tmp_path / script)
    write_synth(tmp_path / "data" / "original" / "song.wav", 0.04, channels=2, seed=11)
    before = tracked_models()
    out = {}
    for cmd in BLOG:
        proc = run_script(cmd[0], *cmd[1:], cwd=tmp_path, subprocess_=True, script_dir=tmp_path)
        out[" ".join(cmd)] = proc.stdout + proc.stderr
    # --train made a run of its own, with the blog's network (BiLSTM 300, Dense 500, Dense 20, RMSprop 1e-4).
    run = tmp_path / "models" / "trained"
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["arch"], cfg["units"], cfg["dense"], cfg["dense2"], cfg["lr"]) == ("bilstm", 300, 500, 20, 1e-4)
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 10
    assert "new run in models/trained (bilstm" in out["rnn-super-resolution.py --train"]
    # --predict applied that network to the scanned songs (data/22k) and said which model it used.
    assert "model models/trained (bilstm, best.keras" in out["rnn-super-resolution.py --predict"]
    m = json.loads((tmp_path / "data" / "predicted" / "manifest.json").read_text())
    assert m["model_name"] == "trained" and [f["output"] for f in m["files"]] == ["song.wav"]
    # eval.py printed the MAE of the naive upsample and of that network, beside linear and sinc.
    table = out["eval.py"].split("Mean over 1 songs")[1]
    rows = {cells[0]: cells for cells in map(str.split, table.splitlines())
            if cells and cells[0] in ("naive", "linear", "sinc", "trained")}
    assert list(rows) == ["naive", "linear", "sinc", "trained"]
    assert all(float(r[1]) > 0 for r in rows.values())
    # Nothing the repository ships was touched.
    assert tracked_models() == before


def test_the_readme_follows_the_blogs_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Your own music"):]
    section = section[:section.index("\n## ", 5)]
    block = section[section.index("```sh"):section.index("```", section.index("```sh") + 5)]
    lines = [line.split("#")[0].split() for line in block.splitlines()]
    commands = [line[1:] for line in lines if line and line[0] == "python"]
    assert commands[:5] == BLOG


def test_training_refuses_every_shipped_model_folder(pipeline, tmp_path):
    before = tracked_models()
    for name in ("default", "sbr", "bilstm-full"):
        proc = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model",
                          f"models/{name}", "--epochs", "1", *TINY, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        line = proc.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: models/{name}: a model shipped with superres, read-only")
        assert f"--init-from models/{name}" in line
    # A link to a shipped folder is the folder; so is the installed package's copy.
    link = tmp_path / "mine"
    link.symlink_to(ROOT / "models" / "default")
    with pytest.raises(UserError, match="read-only"):
        check_not_shipped(link)
    pretrained = Path(__import__("superres").__file__).resolve().parent / "pretrained"
    assert pretrained in shipped_model_dirs()
    with pytest.raises(UserError, match="read-only"):
        check_not_shipped(pretrained)
    check_not_shipped(tmp_path / "models" / "default")  # a folder of the user's own, named the same
    assert tracked_models() == before
