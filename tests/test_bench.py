"""The benchmark runs and reports; speed itself is measured by `make bench`, not asserted here."""

import pytest

from superres import bench


def test_measurements_report_speed_and_memory(tmp_path):
    sinc = bench.measure("sinc", seconds=1.0)
    assert sinc["x_real_time"] > 0 and sinc["samples_per_s"] == pytest.approx(sinc["x_real_time"] * 88200)
    assert sinc["peak_mb"] > 0
    pred = bench.measure("predict", size="demo", seconds=0.1, overlap=0)
    assert "overlap 0" in pred["what"] and pred["x_real_time"] > 0
    int8 = bench.measure("predict", size="demo", seconds=0.1, overlap=0, runtime="onnx-int8")
    assert "ONNX Runtime int8" in int8["what"] and int8["x_real_time"] > 0
    base = bench.measure("predict", size="demo", seconds=0.1, baseline=True)
    assert "straightforward" in base["what"] and base["x_real_time"] > 0
    sbr = bench.measure("predict", size="sbr", seconds=0.5)
    assert "sbr" in sbr["what"] and sbr["x_real_time"] > 0
    train = bench.measure("train", size="demo", steps=1, batch=8)
    assert train["samples_per_s"] > 0
    train_sbr = bench.measure("train", size="sbr", steps=1, batch=2)
    assert train_sbr["samples_per_s"] > 0
    gen = bench.measure("predict", size="gen", seconds=0.5, runtime="onnx")
    assert "gen" in gen["what"] and "ONNX Runtime" in gen["what"] and gen["x_real_time"] > 0
    rows = [sinc, pred, int8, base, sbr, train, train_sbr, gen]
    table = bench.format_markdown(rows, "test machine")
    lines = table.splitlines()
    assert lines[0] == "Machine: test machine"
    assert len([ln for ln in lines if ln.startswith("| ") and "measurement" not in ln]) == len(rows)


def test_whole_process_row_times_a_real_command(tmp_path):
    import sys

    row = bench.measure_process([sys.executable, "-c", "import time; time.sleep(0.2)"], 10.0, "sleep")
    assert row["what"] == "sleep" and 0.2 <= row["seconds"] < 10 and row["x_real_time"] == pytest.approx(
        10.0 / row["seconds"]) and row["peak_mb"] > 1
    with pytest.raises(RuntimeError, match="failed"):
        bench.measure_process([sys.executable, "-c", "import sys; sys.exit(3)"], 1.0, "fails")
