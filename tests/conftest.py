"""Shared fixtures: synthetic audio, running the scripts as a user would, and one tiny pipeline run."""

import contextlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: A network small enough to train in seconds on a CPU. Batches of 256: an epoch of the pipeline's dataset is
#: 34 steps, and a step of this network costs about the same for 256 windows as for 32.
TINY = ["--units", "4", "--dense", "8", "--dense2", "4", "--lr", "3e-3", "--decay", "0", "--batch-size", "256"]
#: TINY in batches of 8192 (the last --batch-size is the one taken), for the runs where only the epochs count
#: (resuming, stopping, diverging): an epoch of the pipeline's dataset in 2 steps instead of 34.
TINY_EPOCHS = [*TINY, "--batch-size", "8192"]


def synth(seconds, rate=44100, channels=2, seed=0):
    """Music-like test signal: a few partials up to 18 kHz, decaying noise bursts; float in [-0.5, 0.5].

    Returns
    -------
    ndarray of float64, shape (round(seconds * rate), channels)
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    out = np.zeros((n, channels))
    for c in range(channels):
        for f in rng.uniform(100, 18000, size=6):
            out[:, c] += rng.uniform(0.02, 0.08) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
        env = np.exp(-((t * 4) % 1.0) * 8)  # a burst every 0.25 s
        out[:, c] += 0.1 * env * rng.standard_normal(n)
    return np.clip(out, -0.5, 0.5)


def write_synth(path, seconds, rate=44100, channels=2, seed=0, subtype="PCM_16"):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), synth(seconds, rate, channels, seed), rate, subtype=subtype)
    return path


def _script_main(script):
    """What a top-level script runs, as a function of its argument list (see the scripts themselves)."""
    from superres.cli import run
    from superres.commands import blog_main, script as stage

    if script == "rnn-super-resolution.py":
        return lambda argv: run(blog_main, argv)
    name = {"10-scan.py": "scan", "20-make-dataset.py": "dataset", "eval.py": "eval"}[script]
    return lambda argv: stage(name, argv)


def run_script(script, *args, cwd=None, check=True, timeout=600, subprocess_=False, script_dir=None):
    """Run one of the top-level scripts as a user would from a shell, and collect what it printed.

    By default the script's ``main`` runs in this process with stdout and stderr captured: the same code
    from the argument list on, without the seconds a new process spends importing TensorFlow. With
    ``subprocess_=True`` it runs as a real process (what tests of the executable itself, of signals and of
    imports need), run from ``script_dir`` (default: the repository; a test copies the scripts elsewhere to
    run them as a user does, in the folder that holds them).

    Returns
    -------
    subprocess.CompletedProcess
        ``returncode``, ``stdout``, ``stderr``.
    """
    argv = [str(a) for a in args]
    if subprocess_:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, str(Path(script_dir or ROOT) / script), *argv], cwd=cwd or ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout)
    else:
        out, err = io.StringIO(), io.StringIO()
        here = os.getcwd()
        os.chdir(cwd or ROOT)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = _script_main(script)(argv)
                except SystemExit as e:  # argparse: --help, or a usage error
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except Exception:  # what a process would print before dying (--debug)
                    traceback.print_exc()
                    code = 1
        finally:
            os.chdir(here)
        proc = subprocess.CompletedProcess([script, *argv], code, out.getvalue(), err.getvalue())
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(argv)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """Scan, dataset, a 2-epoch tiny training and prediction on three short synthetic songs.

    Songs: stereo 44.1 kHz FLAC (3 s), mono 44.1 kHz WAV (2 s) in a subfolder, stereo 48 kHz WAV (2 s).
    """
    root = tmp_path_factory.mktemp("pipeline")
    orig = root / "original"
    write_synth(orig / "a_stereo.flac", 3.0, channels=2, seed=1)
    write_synth(orig / "sub" / "b_mono.wav", 2.0, channels=1, seed=2)
    write_synth(orig / "c_48k.wav", 2.0, rate=48000, channels=2, seed=3)
    d = {"root": root, "original": orig, "scan": root / "22k", "dataset": root / "dataset",
         "model": root / "models" / "tiny", "predicted": root / "predicted"}
    # Real processes, as a user runs them.
    d["scan_out"] = run_script("10-scan.py", "--input", orig, "--output", d["scan"], subprocess_=True).stdout
    d["dataset_out"] = run_script("20-make-dataset.py", "--input", d["scan"], "--output", d["dataset"],
                                  subprocess_=True).stdout
    # Training and prediction in this process: other tests run each of them as a process of its own.
    d["train_out"] = run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", d["dataset"],
                                "--model", d["model"], "--epochs", "2", *TINY).stdout
    d["predict_out"] = run_script("rnn-super-resolution.py", "--predict", "--model", d["model"],
                                  "--output", d["predicted"]).stdout
    return d


@pytest.fixture(scope="session")
def sinc_dataset(tmp_path_factory, pipeline):
    """The pipeline's songs as the dataset the generators train on (sinc, PCM, 8192-step windows), built once."""
    ds = tmp_path_factory.mktemp("sinc-dataset") / "ds"
    run_script("20-make-dataset.py", "--input", pipeline["scan"], "--output", ds, "--upsample", "sinc",
               "--encoding", "pcm", "--window", "8192")
    return ds


def train_one_epoch(dataset, model, flags):
    """A tiny model trained on ``dataset`` for one epoch into ``model`` (in this process); returns the folder."""
    out = run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", dataset, "--model", model,
                     "--epochs", "1", *flags).stdout
    assert "best validation loss" in out
    return model


#: A tiny sbr network's settings (tests/test_sbr.py, the ONNX tests).
SBR_TINY = ["--arch", "sbr", "--channels", "4", "--bands", "8", "--kernel", "3", "--batch-size", "4"]


#: A tiny cgen network's settings (tests/test_cgen.py, tests/test_distributed.py). Batches of 4: 12 steps an epoch
#: on :func:`sinc_dataset`'s 48 training windows (a step's cost is its windows', whose inputs are remade for it).
CGEN_TINY = ["--arch", "cgen", "--dim", "8", "--blocks", "2", "--expand", "2", "--kernel", "5", "--lr", "2e-3",
             "--batch-size", "4"]


@pytest.fixture(scope="session")
def cgen_run(tmp_path_factory, sinc_dataset):
    """A tiny cgen trained for one epoch on :func:`sinc_dataset` in this process, once: the cgen tests' base
    model (copied before it is trained further) and the single-process reference of the two-worker run."""
    tmp = tmp_path_factory.mktemp("cgen")
    return {"dataset": sinc_dataset, "model": train_one_epoch(sinc_dataset, tmp / "cgen", CGEN_TINY)}


@pytest.fixture(scope="session")
def sbr_run(tmp_path_factory, sinc_dataset):
    """A tiny sbr model trained for two epochs on :func:`sinc_dataset`, once: the folder and what training said."""
    model = tmp_path_factory.mktemp("sbr") / "sbr"
    out = run_script("rnn-super-resolution.py", "--train", "--quiet", "--dataset", sinc_dataset, "--model", model,
                     "--epochs", "2", *SBR_TINY).stdout
    return {"model": model, "train_out": out}
