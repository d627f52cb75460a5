"""The Python API (superres.upsample, superres.upsample_file) and the installed `superres` command."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

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


#: What `pip install superres` may hold at most, bytes (the core's packages, the project and pip itself).
CORE_SIZE_LIMIT = 350e6


def _core_distributions():
    """The distributions requirements-core.txt brings in, and theirs, as this (locked) environment has them."""
    import importlib.metadata as md
    import re

    from packaging.requirements import Requirement

    todo = [Requirement(line).name for line in (ROOT / "requirements-core.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    found = {}
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found[key] = dist = md.distribution(name)
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def test_pip_install_gives_the_light_core_and_a_working_superres_command(pipeline, tmp_path):
    """`pip install superres` into a fresh virtual environment that holds the core's packages alone (no
    TensorFlow, Keras, scipy, onnx, PyTorch or JAX), then `superres predict` from another folder with the
    default model, on a lower rate (the splice), and with the shipped sbr and full-size BiLSTM models.

    The new environment sees the locked packages of the core, linked from this environment (a .pth file), so
    that the test installs nothing from the network: what it checks is the project's own packaging and that
    prediction needs nothing else. The project is installed from a wheel built from a copy of the checkout.
    """
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "data", "__pycache__", "*.egg-info",
                                                             "build", ".pytest_cache", "logs"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "wheels"), str(src)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The core's packages, each linked from this environment.
    core, size = tmp_path / "core-site", 0
    core.mkdir()
    site_here = sysconfig.get_paths()["purelib"]
    dists = _core_distributions()
    assert not set(dists) & {"tensorflow", "keras", "scipy", "onnx", "torch", "jax", "librosa", "matplotlib"}
    for dist in dists.values():
        for f in dist.files or []:
            if f.parts[0] == "..":  # scripts outside site-packages
                continue
            top = core / f.parts[0]
            if not top.exists():
                top.symlink_to(os.path.join(site_here, f.parts[0]))
            path = dist.locate_file(f)
            size += os.path.getsize(path) if os.path.isfile(path) else 0
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    py = str(env_dir / "bin" / "python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "core-deps.pth"), "w") as f:
        f.write(str(core) + "\n")
    wheel = next((tmp_path / "wheels").glob("superres-*.whl"))
    proc = subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    own = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(site) for n in names
              if not os.path.islink(os.path.join(d, n)))
    assert size + own < CORE_SIZE_LIMIT, (size, own)
    for module in ("tensorflow", "keras", "scipy", "onnx", "torch", "jax"):
        probe = subprocess.run([py, "-c", f"import {module}"], capture_output=True, text=True, env=env)
        assert probe.returncode != 0, f"{module} is importable in the core environment"

    exe = env_dir / "bin" / "superres"
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(pipeline["scan"] / "sub" / "b_mono.wav", work / "song.wav")
    x, rate = sf.read(work / "song.wav")
    sf.write(work / "short.wav", x[:rate // 4], rate, subtype="PCM_16")  # the full-size BiLSTM is slow
    sf.write(work / "low16k.wav", synth(1.0, 16000, 1, seed=4), 16000, subtype="PCM_16")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=work, env=env)
    assert out.returncode == 0 and out.stdout.startswith("superres "), out.stderr
    # The pretrained default model travels inside the package: no --model, no checkout.
    runs = {"up": ["song.wav", "low16k.wav"],
            "sbr": ["short.wav", "--model", str(ROOT / "models" / "sbr")],
            "full": ["short.wav", "--model", str(ROOT / "models" / "bilstm-full")]}
    for name, args in runs.items():
        proc = subprocess.run([str(exe), "predict", *args, "--output", name], capture_output=True, text=True,
                              cwd=work, env=env)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
        manifest = json.loads((work / name / "manifest.json").read_text())
        assert manifest["runtime"] == "onnx", name
        for entry in manifest["files"]:
            source = sf.info(work / Path(entry["input"]).name)
            assert sf.info(work / name / entry["output"]).frames == -(-source.frames * 44100 // source.samplerate)
    done = {Path(e["input"]).name: e["done"] for e in json.loads((work / "up" / "manifest.json").read_text())["files"]}
    assert done == {"song.wav": "network", "low16k.wav": "spliced"}
    installed = subprocess.run([py, "-c", "import superres; print(superres.__file__)"], capture_output=True,
                               text=True, cwd=work, env=env).stdout
    assert str(env_dir) in installed  # the installed copy ran, not the checkout
    # What needs the training stack says which extra brings it.
    proc = subprocess.run([str(exe), "predict", "song.wav", "--output", "k", "--runtime", "keras"],
                          capture_output=True, text=True, cwd=work, env=env)
    assert proc.returncode == 2 and "pip install 'superres[train]'" in proc.stderr.strip().splitlines()[-1]


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
