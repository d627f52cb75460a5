"""The benchmark runs and reports; speed itself is measured by `make bench`, not asserted here.

Its arithmetic is: a stand-in clock (every read 0.37 s after the last) makes each timed call take a known time,
so x real time and samples/s are known numbers on any machine; peak memory is checked on a call that allocates
a known amount, in a fresh process (the peak is a high-water mark of the whole process).
"""

import json
import resource
import subprocess
import sys

import pytest

from superres import bench

#: Seconds between two reads of the stand-in clock: the duration of every timed call.
TICK = 0.37


class _Clock:
    """Stands in for the ``time`` module in :mod:`superres.bench`: ``perf_counter`` advances by TICK per read,
    and each read is logged beside the calls the test watches."""

    def __init__(self, log):
        self.log, self.now = log, 1000.0

    def perf_counter(self):
        self.log.append("clock")
        self.now += TICK
        return self.now


def test_measurements_report_speed_and_memory(monkeypatch):
    import superres.audio
    from superres.predictor import Predictor

    log = []
    monkeypatch.setattr(bench, "time", _Clock(log))
    real_sinc, real_array = superres.audio.sinc_upsample, Predictor.array

    def sinc(x):
        log.append(("sinc", x.shape, x.dtype.name))
        return real_sinc(x)

    def array(self, x):
        log.append(("predict", x.shape))
        return real_array(self, x)

    monkeypatch.setattr(superres.audio, "sinc_upsample", sinc)
    monkeypatch.setattr(Predictor, "array", array)

    def timed(kind, **args):
        """One measurement, and what ran between its clock reads: one warm-up call before, one call timed."""
        log.clear()
        row = bench.measure(kind, **args)
        return row, list(log)

    def peak_now():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    sinc_row, events = timed("sinc", seconds=1.0)
    call = ("sinc", (22050, 2), "int16")  # a second of stereo 22.05 kHz, 16-bit
    assert events == [call, "clock", call, "clock"]
    assert sinc_row["x_real_time"] == pytest.approx(1.0 / TICK, rel=1e-9)  # audio seconds / timed seconds
    assert sinc_row["samples_per_s"] == pytest.approx(44100 * 2 / TICK, rel=1e-9)  # both channels at 44.1 kHz
    # This process's own high-water mark, in MiB (ru_maxrss is in KiB on Linux).
    assert sinc_row["peak_mb"] == pytest.approx(peak_now(), rel=0.01)

    rows = [sinc_row]
    for args, what in (({"size": "demo", "seconds": 0.1, "overlap": 0}, "overlap 0"),
                       ({"size": "demo", "seconds": 0.1, "overlap": 0, "runtime": "onnx-int8"}, "ONNX Runtime int8"),
                       ({"size": "sbr", "seconds": 0.5}, "sbr"),
                       ({"size": "gen", "seconds": 0.5, "runtime": "onnx"}, "gen")):
        row, events = timed("predict", **args)
        call = ("predict", (int(args["seconds"] * 22050), 2))
        assert events == [call, "clock", call, "clock"], args
        assert what in row["what"] and row["what"].endswith(", stereo")
        assert row["x_real_time"] == pytest.approx(args["seconds"] / TICK, rel=1e-9)
        assert row["samples_per_s"] == pytest.approx(args["seconds"] * 88200 / TICK, rel=1e-9)
        rows.append(row)
    assert "ONNX Runtime float32" in rows[-1]["what"]
    base, events = timed("predict", size="demo", seconds=0.1, baseline=True)
    assert "straightforward" in base["what"] and events == ["clock", "clock"]
    assert base["x_real_time"] == pytest.approx(0.1 / TICK, rel=1e-9)
    rows.append(base)
    for size, batch, window in (("demo", 8, 50), ("sbr", 2, 8192)):
        row, events = timed("train", size=size, steps=3, batch=batch)
        assert events == ["clock", "clock"] and f"batch {batch}" in row["what"]
        assert row["samples_per_s"] == pytest.approx(3 * batch * window / TICK, rel=1e-9)  # window steps / s
        assert "x_real_time" not in row
        rows.append(row)

    table = bench.format_markdown(rows, "test machine")
    lines = table.splitlines()
    assert lines[0] == "Machine: test machine"
    assert len([ln for ln in lines if ln.startswith("| ") and "measurement" not in ln]) == len(rows)
    assert (f"| sinc (soxr VHQ) upsample, stereo | {1 / TICK:.2f} | {88200 / TICK:,.0f} |  | "
            f"{sinc_row['peak_mb']:.0f} |") in lines


#: MiB the measured call allocates, and how far above that the peak may be: the rest of a measurement of
#: 0.1 s of audio (its signal, a few hundred kB) and the allocator's rounding.
ALLOCATED_MB, SLACK_MB = 256, 48


def test_peak_memory_is_the_measured_calls():
    """In a fresh process, as tools/bench.py runs each measurement: a sinc call that allocates (and touches)
    256 MiB raises the reported peak by that much, and not by much more."""
    code = f"""
import json, resource
import numpy as np
import superres.audio
from superres import bench

def allocating(x):
    block = np.ones({ALLOCATED_MB} * 2 ** 20 // 8)  # every page written
    return block[:1]

superres.audio.sinc_upsample = allocating
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
row = bench.measure("sinc", seconds=0.1)
print(json.dumps({{"before": before, "peak": row["peak_mb"]}}))
"""
    from conftest import ROOT

    # Started through a small Python process: Linux counts the pages a child shares with its parent at the fork
    # in the child's ru_maxrss, so a child of this (TensorFlow-sized) process would start at its size.
    via = "import subprocess, sys; sys.exit(subprocess.run([sys.executable, '-c', sys.argv[1]]).returncode)"
    proc = subprocess.run([sys.executable, "-c", via, code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["before"] + ALLOCATED_MB <= r["peak"] <= r["before"] + ALLOCATED_MB + SLACK_MB, r


def test_whole_process_row_times_a_real_command(tmp_path):
    import sys

    row = bench.measure_process([sys.executable, "-c", "import time; time.sleep(0.2)"], 10.0, "sleep")
    # The wall time covers the command (a sleep of 0.2 s at least); x real time is audio seconds over it.
    assert row["what"] == "sleep" and row["seconds"] >= 0.2 and row["x_real_time"] == pytest.approx(
        10.0 / row["seconds"]) and row["peak_mb"] > 1
    with pytest.raises(RuntimeError, match="failed"):
        bench.measure_process([sys.executable, "-c", "import sys; sys.exit(3)"], 1.0, "fails")


def test_whole_process_peak_is_the_commands_own():
    import numpy as np

    ballast = np.ones(400 * 2 ** 20 // 8)  # this process: 400 MiB more resident, every page written
    row = bench.measure_process([sys.executable, "-c", "pass"], 1.0, "an empty command")
    del ballast
    assert row["peak_mb"] < 200, row  # an empty Python: about 10 MiB


def test_per_kind_rows_time_prediction_of_each_kind_beside_its_base(tmp_path):
    """tools/bench.py --kinds: the original made into each kind, then its base process and superres predict on
    that very file, each writing a 44.1 kHz file exactly as long as the original."""
    import importlib.util

    from conftest import ROOT

    import soundfile as sf

    spec = importlib.util.spec_from_file_location("bench_tool", ROOT / "tools" / "bench.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    original = tmp_path / "song.wav"
    sf.write(str(original), bench._signal(1.5, 44100), 44100, subtype="PCM_16")
    rows = tool.kind_processes(original, ROOT / "models" / "default", tmp_path, ["16 kHz", "MP3 128 kbps"])
    assert [r["what"].split(",")[0] for r in rows] == [
        "16 kHz input: sinc upsample (soxr VHQ)", "16 kHz input: superres predict",
        "MP3 128 kbps input: decode", "MP3 128 kbps input: superres predict"]
    # Every row's audio is the original's 1.5 s, whatever the input's rate.
    assert all(r["x_real_time"] == pytest.approx(1.5 / r["seconds"]) for r in rows)
    assert sf.info(str(tmp_path / "kind-0.wav")).samplerate == 16000
    outputs = [tmp_path / "kind-0-base.wav", tmp_path / "kind-0-out" / "kind-0.wav", tmp_path / "kind-1-base.wav",
               tmp_path / "kind-1-out" / "kind-1.wav"]
    # The 16 kHz file's outputs are exactly the original's length; an MP3's decoded length is the encoder's
    # (its priming and padding), as superres predict keeps it.
    info = [sf.info(str(f)) for f in outputs]
    assert [i.samplerate for i in info] == [44100] * 4
    assert info[0].frames == info[1].frames == int(1.5 * 44100)
    assert info[2].frames == info[3].frames >= int(1.5 * 44100)
