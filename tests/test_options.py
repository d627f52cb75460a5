"""Every numeric option is checked when it is parsed; options of the other mode are errors; --help is right."""

import re

import pytest

from conftest import TINY, run_script


def assert_option_error(proc, option):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and option in errors[0], proc.stderr


PREDICT = ["--predict", "--model", "models/default", "x.wav"]
TRAIN = ["--train", "--dataset", "nowhere", "--model", "nowhere"]


@pytest.mark.parametrize("args, option", [
    (PREDICT + ["--chunk-seconds", "nan"], "--chunk-seconds"),
    (PREDICT + ["--chunk-seconds", "inf"], "--chunk-seconds"),
    (PREDICT + ["--chunk-seconds", "0"], "--chunk-seconds"),
    (PREDICT + ["--chunk-seconds", "-1"], "--chunk-seconds"),
    (PREDICT + ["--inference-batch", "-1"], "--inference-batch"),
    (PREDICT + ["--inference-batch", "0"], "--inference-batch"),
    (PREDICT + ["--overlap", "-3"], "--overlap"),
    (PREDICT + ["--overlap", "2.5"], "--overlap"),
    (TRAIN + ["--batch-size", "0"], "--batch-size"),
    (TRAIN + ["--batch-size", "-4"], "--batch-size"),
    (TRAIN + ["--lr", "nan"], "--lr"),
    (TRAIN + ["--lr", "inf"], "--lr"),
    (TRAIN + ["--lr", "-1"], "--lr"),
    (TRAIN + ["--lr", "0"], "--lr"),
    (TRAIN + ["--decay", "-1"], "--decay"),
    (TRAIN + ["--decay", "nan"], "--decay"),
    (TRAIN + ["--units", "0"], "--units"),
    (TRAIN + ["--dense", "-5"], "--dense"),
    (TRAIN + ["--seed", "-1"], "--seed"),
    (TRAIN + ["--epochs", "0"], "--epochs"),
    (TRAIN + ["--bands", "0"], "--bands"),
    (TRAIN + ["--wave-weight", "nan"], "--wave-weight"),
    (TRAIN + ["--worker-timeout", "-2"], "--worker-timeout"),
])
def test_nonsense_numbers_are_refused_at_parse_time(args, option):
    assert_option_error(run_script("rnn-super-resolution.py", *args, check=False), option)


@pytest.mark.parametrize("script, args, option", [
    ("20-make-dataset.py", ["--hop", "0"], "--hop"),
    ("20-make-dataset.py", ["--window", "0"], "--window"),
    ("20-make-dataset.py", ["--window", "51"], "--window"),
    ("20-make-dataset.py", ["--train-fraction", "1.5"], "--train-fraction"),
    ("20-make-dataset.py", ["--train-fraction", "nan"], "--train-fraction"),
    ("eval.py", ["--train-fraction", "-1"], "--train-fraction"),
    ("eval.py", ["--train-fraction", "1.5"], "--train-fraction"),
    ("eval.py", ["--train-fraction", "nan"], "--train-fraction"),
    ("eval.py", ["--clip-seconds", "-1"], "--clip-seconds"),
    ("eval.py", ["--clip-seconds", "nan"], "--clip-seconds"),
])
def test_other_scripts_refuse_nonsense_numbers(script, args, option, tmp_path):
    assert_option_error(run_script(script, *args, "--input" if script != "eval.py" else "--scan", tmp_path,
                                   check=False), option)


@pytest.mark.parametrize("args, option", [
    (PREDICT + ["--epochs", "3"], "--epochs"),
    (PREDICT + ["--lr", "1e-3"], "--lr"),
    (PREDICT + ["--dataset", "d"], "--dataset"),
    (TRAIN + ["--chunk-seconds", "5"], "--chunk-seconds"),
    (TRAIN + ["--runtime", "onnx"], "--runtime"),
    (TRAIN + ["--overwrite"], "--overwrite"),
    (TRAIN + ["song.wav"], "input files"),
])
def test_an_option_of_the_other_mode_is_an_error(args, option):
    proc = run_script("rnn-super-resolution.py", *args, check=False)
    assert_option_error(proc, option)
    assert "option" in proc.stderr


def test_overlap_not_less_than_the_window_is_refused(pipeline, tmp_path):
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], "--output", tmp_path,
                      pipeline["scan"] / "a_stereo.wav", "--overlap", "50", check=False)
    assert proc.returncode == 2 and "--overlap must be between 0 and 49 (got 50)" in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("script", ["10-scan.py", "20-make-dataset.py", "rnn-super-resolution.py", "eval.py"])
def test_help_shows_each_default_once_and_correctly(script):
    text = run_script(script, "--help").stdout
    flat = re.sub(r"\s+", " ", text)
    assert "(default: None)" not in flat and "(default: False)" not in flat and "(default: [])" not in flat
    for block in re.split(r"\n  (?=-)", text):
        assert len(re.findall(r"default:", block)) <= 1, block
    if script == "20-make-dataset.py":
        assert "(default: 50)" in flat and "(default: 0.8)" in flat and "default: the window length" in flat
    if script == "rnn-super-resolution.py":
        assert "(default: 10.0)" in flat and "(default: 10)" in flat and "[300]" in flat


def test_superres_command_has_every_stage():
    from superres.commands import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    for name in ("scan", "dataset", "train", "predict", "eval"):
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
    assert main(["train", "--dataset", "nowhere", "--model", "nowhere", *TINY]) == 2


BIG = "99999999999999999999"  # beyond 64 bits


def superres_command(*args):
    """``superres ARGS`` in this process: (exit status, stderr)."""
    import contextlib
    import io

    from superres.commands import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


#: (script or "superres CMD", arguments, the option the error must name): numbers beyond what the code can take.
ABSURD = [
    ("rnn-super-resolution.py", PREDICT + ["--chunk-seconds", "1e308"], "--chunk-seconds"),
    ("rnn-super-resolution.py", PREDICT + ["--chunk-seconds", "1e6"], "--chunk-seconds"),
    ("rnn-super-resolution.py", PREDICT + ["--inference-batch", BIG], "--inference-batch"),
    ("rnn-super-resolution.py", PREDICT + ["--inference-batch", str(2 ** 31)], "--inference-batch"),
    ("rnn-super-resolution.py", PREDICT + ["--overlap", BIG], "--overlap"),
    ("rnn-super-resolution.py", TRAIN + ["--seed", BIG], "--seed"),
    ("rnn-super-resolution.py", TRAIN + ["--seed", str(2 ** 32)], "--seed"),
    ("rnn-super-resolution.py", TRAIN + ["--epochs", BIG], "--epochs"),
    ("rnn-super-resolution.py", TRAIN + ["--patience", BIG], "--patience"),
    ("rnn-super-resolution.py", TRAIN + ["--units", BIG], "--units"),
    ("rnn-super-resolution.py", TRAIN + ["--dense", BIG], "--dense"),
    ("rnn-super-resolution.py", TRAIN + ["--dense2", BIG], "--dense2"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "sbr", "--channels", BIG], "--channels"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "sbr", "--bands", "100000"], "--bands"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "sbr", "--bands", "512"], "--bands"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "sbr", "--bands", "24"], "--bands"),  # does not divide 256
    ("rnn-super-resolution.py", TRAIN + ["--arch", "sbr", "--kernel", BIG], "--kernel"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--dim", BIG], "--dim"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--blocks", BIG], "--blocks"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--expand", BIG], "--expand"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--disc-channels", BIG], "--disc-channels"),
    ("rnn-super-resolution.py", TRAIN + ["--batch-size", BIG], "--batch-size"),
    ("rnn-super-resolution.py", TRAIN + ["--lr", "1e39"], "--lr"),  # beyond float32, the network's arithmetic
    ("rnn-super-resolution.py", TRAIN + ["--decay", "1e39"], "--decay"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "sbr", "--wave-weight", "1e39"], "--wave-weight"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--band-weight", "1e39"], "--band-weight"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--adv-weight", "1e39"], "--adv-weight"),
    ("rnn-super-resolution.py", TRAIN + ["--arch", "gen", "--fm-weight", "1e39"], "--fm-weight"),
    ("rnn-super-resolution.py", TRAIN + ["--worker-timeout", "1e10"], "--worker-timeout"),
    ("20-make-dataset.py", ["--input", "nowhere", "--window", str(2 ** 31)], "--window"),
    ("20-make-dataset.py", ["--input", "nowhere", "--hop", BIG], "--hop"),
    ("eval.py", ["--scan", "nowhere", "--clip-seconds", "1e308"], "--clip-seconds"),
    ("eval.py", ["--scan", "nowhere", "--visqol", "1e308"], "--visqol"),
    ("superres predict", ["--model", "models/default", "x.wav", "--chunk-seconds", "1e308"], "--chunk-seconds"),
    ("superres predict", ["x.wav", "--inference-batch", BIG], "--inference-batch"),
    ("superres train", ["--dataset", "nowhere", "--model", "nowhere", "--seed", BIG], "--seed"),
    ("superres train", ["--dataset", "nowhere", "--model", "nowhere", "--units", BIG], "--units"),
    ("superres train", ["--dataset", "nowhere", "--model", "nowhere", "--arch", "sbr", "--bands", "100000"],
     "--bands"),
    ("superres dataset", ["--input", "nowhere", "--hop", BIG], "--hop"),
    ("superres eval", ["--scan", "nowhere", "--clip-seconds", "1e308"], "--clip-seconds"),
]


@pytest.mark.parametrize("script, args, option", ABSURD, ids=[f"{s} {' '.join(a[-2:])}" for s, a, _ in ABSURD])
def test_absurdly_large_numbers_are_refused_at_parse_time(script, args, option):
    if script.startswith("superres "):
        code, err = superres_command(script.split()[1], *args)
        proc = type("P", (), {"returncode": code, "stderr": err, "stdout": ""})
    else:
        proc = run_script(script, *args, check=False)
    assert_option_error(proc, option)
    line = next(ln for ln in proc.stderr.splitlines() if "error:" in ln)
    assert f"argument {option}" in line and "must be" in line and "(got " in line, line


@pytest.mark.parametrize("option, value", [("--units", "1000000000"), ("--dense", "1000000000"),
                                           ("--dense2", "2000000000")])
def test_a_network_too_large_for_this_machine_is_refused_before_it_is_built(pipeline, tmp_path, option, value):
    model = tmp_path / "m"
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model", model,
                      "--epochs", "1", *TINY, option, value, check=False)
    assert_option_error(proc, option)
    line = next(ln for ln in proc.stderr.splitlines() if "error:" in ln)
    # How large it would be, what it needs, what there is, and what fits.
    assert "parameters" in line and "GB of memory" in line and "available" in line and " up to " in line, line
    assert not model.exists()  # refused before anything was built or written


def test_an_inference_batch_too_large_for_this_machine_is_refused(pipeline, tmp_path):
    proc = run_script("rnn-super-resolution.py", "--predict", "--model", pipeline["model"], "--output", tmp_path / "o",
                      pipeline["scan"] / "a_stereo.wav", "--inference-batch", "1000000000", check=False)
    assert_option_error(proc, "--inference-batch")
    assert "GB of memory" in proc.stderr and "use --inference-batch" in proc.stderr
    assert not (tmp_path / "o" / "a_stereo.wav").exists()


def test_size_estimates_count_the_parameters_keras_builds():
    """The Keras-free parameter counts behind the memory check are exact, for every architecture."""
    from superres.archs import architecture
    from superres.models import build_model
    from superres.models.discriminators import DISC_RESOLUTIONS, build_discriminator
    from superres.runs import ARCH_DEFAULTS

    from superres import archs

    assert archs._DISC_RESOLUTIONS == len(DISC_RESOLUTIONS)
    for arch, sizes, encoding in (("bilstm", dict(units=6, dense=10, dense2=4), "bits"),
                                  ("bilstm", dict(units=5, dense=7, dense2=3), "pcm"),
                                  ("sbr", dict(channels=8, bands=16, kernel=3), "pcm"),
                                  ("gen", dict(dim=8, blocks=2, expand=2, kernel=5), "pcm"),
                                  ("gen", dict(dim=8, blocks=1, expand=2, kernel=3, adv_weight=1.0, disc_channels=4),
                                   "pcm"),
                                  ("cgen", dict(dim=8, blocks=2, expand=2, kernel=5), "pcm"),
                                  ("cgen", dict(dim=6, blocks=1, expand=3, kernel=3, adv_weight=1.0, disc_channels=4),
                                   "pcm")):
        cfg = {"arch": arch, **ARCH_DEFAULTS[arch], **sizes, "window": 50 if arch == "bilstm" else 1024, "bits": 16,
               "dataset": {"encoding": encoding, "input": "naive" if arch == "bilstm" else "sinc"}}
        n = build_model(cfg).count_params()
        if cfg.get("adv_weight"):
            n += build_discriminator(cfg["disc_channels"], window=cfg["window"]).count_params()
        assert architecture(arch).params(cfg) == n, (arch, sizes)


@pytest.mark.parametrize("arch, sizes", [
    ("sbr", {"channels": 200000}), ("sbr", {"kernel": 1000000}), ("gen", {"dim": 100000}),
    ("gen", {"blocks": 100000}), ("gen", {"expand": 100000}), ("gen", {"adv_weight": 1.0, "disc_channels": 1000000}),
    ("gen", {"batch_size": 100000}), ("cgen", {"dim": 100000}),
])
def test_every_architecture_refuses_a_network_too_large_for_the_memory(arch, sizes):
    from superres.archs import check_fits
    from superres.errors import UserError
    from superres.runs import ARCH_DEFAULTS

    cfg = {"arch": arch, **ARCH_DEFAULTS[arch], "window": 8192, "bits": 16,
           "dataset": {"encoding": "pcm", "input": "sinc"}}
    counts = {"train": 10 ** 6, "test": 10 ** 5}
    check_fits(cfg, counts, available=16 * 2 ** 30)  # the defaults fit a 16 GB machine
    option = f"--{next(iter(sizes)).replace('_', '-')}" if "adv_weight" not in sizes else "--disc-channels"
    with pytest.raises(UserError, match="parameters and need about .* GB of memory .* 16 GB available") as e:
        check_fits({**cfg, **sizes}, counts, available=16 * 2 ** 30)
    assert f"{option} {sizes.get(option[2:].replace('-', '_'))}" in str(e.value)
    assert f"{option} up to " in str(e.value) or "no one setting" in str(e.value)


def test_python_dash_m_superres_is_the_superres_command():
    import subprocess
    import sys

    from conftest import ROOT
    from superres import __version__

    def run(*args):
        return subprocess.run([sys.executable, "-m", "superres", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})

    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"superres {__version__}", version.stderr
    helped = run("predict", "--help")
    assert helped.returncode == 0 and "--chunk-seconds" in helped.stdout and "usage: superres predict" in helped.stdout
    refused = run("train", "--seed", "-1")
    assert refused.returncode == 2 and "argument --seed" in refused.stderr and "Traceback" not in refused.stderr
