"""The second architecture through the command line: dataset variant, training, refusals, prediction, eval."""

import json

import numpy as np
import soundfile as sf

from conftest import SBR_TINY, run_script


def test_sbr_pipeline(tmp_path, pipeline, sinc_dataset, sbr_run):
    ds = sinc_dataset  # 20-make-dataset.py --upsample sinc --encoding pcm --window 8192
    meta = json.loads((ds / "meta.json").read_text())
    assert meta["input"] == "sinc" and meta["encoding"] == "pcm" and meta["window"] == 8192

    # The faithful dataset (naive bits) is refused with a pointer to the right flags.
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", pipeline["dataset"], "--model",
                      tmp_path / "bad", *SBR_TINY, check=False)
    assert proc.returncode == 2 and "--upsample sinc" in proc.stderr
    # A setting of the other architecture is refused.
    proc = run_script("rnn-super-resolution.py", "--train", "--dataset", ds, "--model", tmp_path / "bad",
                      *SBR_TINY, "--units", "8", check=False)
    assert proc.returncode == 2 and "--units is not a setting of --arch sbr" in proc.stderr

    model, out = sbr_run["model"], sbr_run["train_out"]
    assert "best validation loss" in out
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["arch"] == "sbr" and cfg["bands"] == 8 and "units" not in cfg
    rows = (model / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in rows[-1]

    pred = tmp_path / "pred"
    run_script("rnn-super-resolution.py", "--predict", "--model", model, "--output", pred)
    for e in json.loads((pipeline["scan"] / "manifest.json").read_text())["files"]:
        info, low = sf.info(str(pred / e["output"])), sf.info(str(pipeline["scan"] / e["output"]))
        assert info.samplerate == 44100 and info.frames == 2 * low.frames and info.channels == low.channels

    res = tmp_path / "eval.json"
    run_script("eval.py", "--predicted", pred, "--models", model, "--json", res)
    result = json.loads(res.read_text())
    names = result["methods"]
    assert names[:3] == ["naive", "linear", "sinc"] and len(names) == 5
    # The folder and the in-process run of the same model agree (the same windows, the same input).
    a, b = result["mean"][names[3]], result["mean"][names[4]]
    assert np.isclose(a["SNR"], b["SNR"], atol=0.01) and np.isclose(a["LSD-HF"], b["LSD-HF"], atol=0.01)
    assert result["x_real_time"][names[4]] > 0 and names[3] not in result["x_real_time"]
