#!/usr/bin/env python3
"""Speed benchmark: writes a markdown table (x-real-time, samples/s, peak memory) beside the sinc baseline.

Usage: tools/bench.py [--out bench.md] [--seconds 4] [--quick] [--song WAV] [--model DIR] [--core-env VENV]
Each measurement runs in its own process so that its peak memory is its own. The last rows time whole
processes as a user starts them from a shell (start-up and model loading included) on a real song: the
prediction commands with the default model, beside a process that does the sinc upsample alone.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(spec):
    code = ("import json, sys; from superres import bench; spec = json.loads(sys.argv[1]); "
            "print(json.dumps(bench.measure_dataset(**spec['args']) if spec['kind'] == 'dataset' "
            "else bench.measure(spec['kind'], **spec['args'])))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(f"measurement {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def whole_processes(song, model, work, core_env=None):
    """Rows for whole processes on ``song``: sinc alone, then the two prediction commands (default model), and
    ``superres predict`` of the virtual environment ``core_env`` (the light install: no scipy, numpy's FFT)."""
    import soundfile as sf

    from superres.bench import measure_process

    song = Path(song)
    if not song.is_file():
        from superres.bench import _signal

        song = Path(work) / "synthetic-5min.wav"
        sf.write(str(song), _signal(300.0, 22050), 22050, subtype="PCM_16")
    info = sf.info(str(song))
    label = f"{song.name} ({info.duration:.0f} s, {info.channels} ch)"
    out = Path(work) / "out"
    sinc = ("import sys; from superres.audio import read_audio, sinc_upsample, write_audio; "
            "x, r = read_audio(sys.argv[1], 'float32'); write_audio(sys.argv[2], sinc_upsample(x), 44100)")
    py = sys.executable
    superres_cmd = str(Path(py).with_name("superres"))
    commands = [([py, "-c", sinc, str(song), str(Path(work) / "sinc.wav")],
                 f"whole process: sinc upsample (soxr VHQ), {label}")]
    for name, cmd in (("rnn-super-resolution.py --predict", [py, str(ROOT / "rnn-super-resolution.py"), "--predict"]),
                      ("superres predict", [superres_cmd, "predict"])):
        if name.startswith("superres") and not Path(superres_cmd).is_file():
            continue
        commands.append((cmd + ["--model", str(model), "--output", str(out), "--overwrite", str(song)],
                         f"whole process: {name}, {Path(model).name} model, {label}"))
    if core_env:
        commands.append(([str(Path(core_env) / "bin" / "superres"), "predict", "--model", str(model), "--output",
                          str(out), "--overwrite", str(song)],
                         f"whole process: superres predict in the core install (pip install superres), "
                         f"{Path(model).name} model, {label}"))
    rows = []
    for cmd, what in commands:
        # The core install runs its own installed package; the others this checkout.
        if core_env and cmd[0].startswith(str(core_env)):
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = str(ROOT)
        rows.append(measure_process(cmd, info.duration, what))
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench.md", help="markdown file to write")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds of stereo audio per predict measurement")
    p.add_argument("--quick", action="store_true", help="demo-size network only (no full-size)")
    p.add_argument("--gpu", action="store_true",
                   help="the rows a GPU changes, on any Keras backend (KERAS_BACKEND): the full-size BiLSTM's "
                        "prediction and training, the generator's, beside sinc; no XLA or ONNX rows")
    p.add_argument("--song", default=str(ROOT / "data" / "music-run" / "heldout-22k" / "wesnoth-1.16-music" /
                                         "battle.wav"),
                   help="22.05 kHz song for the whole-process rows (default: a 5.3-minute stereo held-out song of "
                        "make music; a synthetic 5-minute stereo file when it is absent)")
    p.add_argument("--model", default=str(ROOT / "models" / "default"), help="model for the whole-process rows")
    p.add_argument("--core-env", help="a virtual environment with the light install (pip install superres, "
                                      "no training extra): its superres predict gets a whole-process row too")
    args = p.parse_args()
    sec = args.seconds
    specs = [{"kind": "sinc", "args": {"seconds": 60.0}}]
    if args.gpu:
        specs += [{"kind": "predict", "args": {"size": "full", "seconds": 4 * sec, "overlap": 0, "baseline": True}},
                  {"kind": "predict", "args": {"size": "full", "seconds": 4 * sec, "overlap": 0, "batch": 1024}},
                  {"kind": "predict", "args": {"size": "full", "seconds": 4 * sec, "batch": 1024}},
                  {"kind": "train", "args": {"size": "full"}},
                  {"kind": "train", "args": {"size": "full", "batch": 1024}},
                  {"kind": "predict", "args": {"size": "gen", "seconds": 15 * sec, "runtime": "keras"}},
                  {"kind": "train", "args": {"size": "gen"}}]
    elif not args.quick:
        specs += [{"kind": "predict", "args": {"size": "full", "seconds": sec, "overlap": 0, "baseline": True}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec, "overlap": 0}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec, "overlap": 0, "batch": 1024}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec, "overlap": 0, "xla": True}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec, "overlap": 0, "runtime": "onnx"}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec, "overlap": 0,
                                               "runtime": "onnx-int8"}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec}},
                  {"kind": "predict", "args": {"size": "full", "seconds": sec, "runtime": "onnx-int8"}},
                  {"kind": "train", "args": {"size": "full"}},
                  {"kind": "train", "args": {"size": "full", "xla": True}}]
    if not args.gpu:
        specs += [{"kind": "predict", "args": {"size": "demo", "seconds": sec, "overlap": 0}},
                  {"kind": "predict", "args": {"size": "demo", "seconds": sec, "overlap": 0, "runtime": "onnx-int8"}},
                  {"kind": "predict", "args": {"size": "demo", "seconds": sec}},
                  {"kind": "train", "args": {"size": "demo"}},
                  {"kind": "predict", "args": {"size": "sbr", "seconds": 15 * sec}},
                  {"kind": "train", "args": {"size": "sbr"}},
                  {"kind": "predict", "args": {"size": "gen", "seconds": 15 * sec, "runtime": "onnx"}},
                  {"kind": "predict", "args": {"size": "gen", "seconds": 15 * sec}},
                  {"kind": "train", "args": {"size": "gen"}}]
    with tempfile.TemporaryDirectory() as work:
        if not args.gpu:
            specs.append({"kind": "dataset", "args": {"demo_dir": str(ROOT / "data" / "demo"), "work_dir": work}})
        rows = []
        for spec in specs:
            rows.append(child(spec))
            print(json.dumps(rows[-1]), file=sys.stderr)
        if not args.gpu:  # what a user's shell feels on a CPU; a GPU does not change it (ONNX Runtime on the CPU)
            rows += whole_processes(args.song, args.model, work, args.core_env)
    from superres.bench import format_markdown, machine

    text = format_markdown(rows, machine())
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
