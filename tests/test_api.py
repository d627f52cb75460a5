"""The Python API (superres.upsample, superres.upsample_file) and the installed `superres` command."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, run_script, synth, write_synth
from superres.errors import UserError


def test_upsample_arrays_equal_the_command_line(pipeline, tmp_path):
    import superres

    src = pipeline["scan"] / "a_stereo.wav"
    cli, _ = sf.read(pipeline["predicted"] / "a_stereo.wav", dtype="int16")
    x16, rate = sf.read(src, dtype="int16")
    y16, out_rate = superres.upsample(x16, rate, model=pipeline["model"])
    assert out_rate == 44100 and y16.dtype == np.int16 and y16.shape == (2 * x16.shape[0], 2)
    np.testing.assert_array_equal(y16, cli)
    # Float in, float out (unrounded: within half a 16-bit step of the file's samples); mono as (frames,).
    xf, _ = sf.read(src, dtype="float64")
    yf, _ = superres.upsample(xf, rate, model=pipeline["model"])
    assert yf.dtype == np.float32 and np.abs(yf * 32768 - cli).max() <= 0.5 + 1e-3
    ym, _ = superres.upsample(x16[:, 0], rate, model=pipeline["model"])
    assert ym.shape == (2 * x16.shape[0],)
    np.testing.assert_array_equal(ym, cli[:, 0])


def test_upsample_other_rates_like_the_command_line(pipeline, tmp_path):
    import superres

    src = write_synth(tmp_path / "in48.wav", 0.3, rate=48000, channels=1, seed=5)
    out = tmp_path / "out"
    run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], src, "--output", out)
    cli, _ = sf.read(out / "in48.wav", dtype="int16")
    x, rate = sf.read(src, dtype="int16")
    y, _ = superres.upsample(x, rate, model=pipeline["model"])
    np.testing.assert_array_equal(y, cli)


def test_upsample_file_and_refusals(pipeline, tmp_path):
    import superres

    src = pipeline["scan"] / "c_48k.wav"
    dst = tmp_path / "c.wav"
    entry = superres.upsample_file(src, dst, model=pipeline["model"])
    assert entry["frames_out"] == sf.info(dst).frames == 2 * sf.info(src).frames
    np.testing.assert_array_equal(sf.read(dst, dtype="int16")[0], sf.read(pipeline["predicted"] / "c_48k.wav",
                                                                           dtype="int16")[0])
    with pytest.raises(UserError, match="exists"):
        superres.upsample_file(src, dst, model=pipeline["model"])
    superres.upsample_file(src, dst, model=pipeline["model"], overwrite=True, subtype="24")
    assert sf.info(dst).subtype == "PCM_24"
    for bad, phrase in ((np.zeros((0, 2)), "non-empty"), (np.zeros((4, 2, 2)), "shape"),
                        (np.array([[np.nan, 0.0]]), "NaN"), (np.zeros((4, 1), np.int32), "int16 or float")):
        with pytest.raises(UserError, match=phrase):
            superres.upsample(bad, 22050, model=pipeline["model"])
    with pytest.raises(UserError, match="rate"):
        superres.upsample(synth(0.01, 22050, 1), 1000, model=pipeline["model"])


def test_importing_the_package_loads_no_backend():
    code = "import sys, superres; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert out.split() == ["False", "False"]


def test_pip_install_gives_a_working_superres_command(pipeline, tmp_path):
    """`pip install .` into a fresh virtual environment, then `superres predict` from another folder.

    The new environment sees the locked packages of this one (a .pth file) so that the test installs nothing
    from the network: what it checks is the project's own packaging (metadata, console command, the
    pretrained model as package data).
    """
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "data", "__pycache__", "*.egg-info",
                                                             "build", ".pytest_cache"))
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    site = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "locked-deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", str(src)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    exe = env_dir / "bin" / "superres"
    assert exe.is_file()
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(pipeline["scan"] / "sub" / "b_mono.wav", work / "song.wav")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=work, env=env)
    assert out.returncode == 0 and out.stdout.startswith("superres "), out.stderr
    # The pretrained default model travels inside the package: no --model, no checkout.
    proc = subprocess.run([str(exe), "predict", "song.wav", "--output", "up"], capture_output=True, text=True,
                          cwd=work, env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sf.info(work / "up" / "song.wav").frames == 2 * sf.info(work / "song.wav").frames
    # ... with its exported backbone, on ONNX Runtime (no TensorFlow start-up).
    assert json.loads((work / "up" / "manifest.json").read_text())["runtime"] == "onnx"
    installed = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import superres; print(superres.__file__)"],
                               capture_output=True, text=True, cwd=work, env=env).stdout
    assert str(env_dir) in installed  # the installed copy ran, not the checkout


def test_the_readme_documents_the_apis_real_signatures():
    import inspect

    import superres

    readme = " ".join((ROOT / "README.md").read_text().split()).replace('"', "'")
    for fn in (superres.upsample, superres.upsample_file):
        sig = inspect.signature(fn)
        # Every option is a named keyword-only parameter (a misspelt option is a TypeError, not ignored) ...
        assert not [p for p in sig.parameters.values() if p.kind is p.VAR_KEYWORD], fn.__name__
        assert "runtime" in sig.parameters and sig.parameters["runtime"].kind is inspect.Parameter.KEYWORD_ONLY
        # ... and the README shows the signature as it is.
        assert f"{fn.__name__}{sig}".replace(" = ", "=") in readme, f"{fn.__name__}{sig}"
