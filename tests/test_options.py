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
