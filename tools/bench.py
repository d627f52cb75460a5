#!/usr/bin/env python3
"""Speed benchmark: writes a markdown table (x-real-time, samples/s, peak memory) beside the sinc baseline.

Usage: tools/bench.py [--out bench.md] [--seconds 4] [--quick]
Each measurement runs in its own process so that its peak memory is its own.
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench.md", help="markdown file to write")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds of stereo audio per predict measurement")
    p.add_argument("--quick", action="store_true", help="demo-size network only (no full-size)")
    args = p.parse_args()
    sec = args.seconds
    specs = [{"kind": "sinc", "args": {"seconds": 60.0}}]
    if not args.quick:
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
    specs += [{"kind": "predict", "args": {"size": "demo", "seconds": sec, "overlap": 0}},
              {"kind": "predict", "args": {"size": "demo", "seconds": sec, "overlap": 0, "runtime": "onnx-int8"}},
              {"kind": "predict", "args": {"size": "demo", "seconds": sec}},
              {"kind": "train", "args": {"size": "demo"}},
              {"kind": "predict", "args": {"size": "sbr", "seconds": 15 * sec}},
              {"kind": "train", "args": {"size": "sbr"}}]
    with tempfile.TemporaryDirectory() as work:
        specs.append({"kind": "dataset", "args": {"demo_dir": str(ROOT / "data" / "demo"), "work_dir": work}})
        rows = []
        for spec in specs:
            rows.append(child(spec))
            print(json.dumps(rows[-1]), file=sys.stderr)
    from superres.bench import format_markdown, machine

    text = format_markdown(rows, machine())
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
