#!/usr/bin/env python3
"""Speed benchmark: writes a markdown table (x-real-time, samples/s, peak memory) beside the sinc baseline.

Usage: tools/bench.py [--out bench.md] [--seconds 4] [--quick] [--song WAV] [--model DIR] [--core-env VENV]
                      [--original WAV] [--kinds KIND ...]
Each measurement runs in its own process so that its peak memory is its own. The last rows time whole
processes as a user starts them from a shell (start-up and model loading included) on a real song: the
prediction commands with the default model, beside a process that does the sinc upsample alone; then, per input
kind of the held-out table (the same song made into a 16 kHz file, an MP3, ...), ``superres predict`` beside a
process that decodes the same file and sinc-interpolates it to 44.1 kHz (a codec's: decodes it alone).
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


def whole_processes(song, model, work, core_env=None, original=None):
    """Rows for whole processes on ``song``: sinc alone, then the two prediction commands (default model), and
    ``superres predict`` of the virtual environment ``core_env`` (the light install: no scipy, numpy's FFT).
    Without ``song``, ``original`` (44.1 kHz) made into a 22.05 kHz file, or else a synthetic 5-minute one."""
    import soundfile as sf

    from superres.bench import measure_process

    song = Path(song)
    if not song.is_file() and Path(original).is_file():
        # The held-out song as the scan makes it (soxr VHQ to 22.05 kHz), where make music ran but not the scan.
        from superres.kinds import make_input

        x, _ = sf.read(str(original), dtype="float32", always_2d=True)
        song = Path(work) / Path(original).name
        make_input(x, str(song), ("rate", 22050))
    elif not song.is_file():
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


#: The base of a per-kind row: decode, sinc-interpolate to 44.1 kHz a file below it, write at the rate and in the
#: sample format superres predict writes (a 48 kHz Opus file stays at 48 kHz; a lossy file's output is float).
_DECODE_SINC = ("import sys; from superres.audio import read_audio, resample, write_audio; "
                "x, r = read_audio(sys.argv[1], 'float32'); "
                "write_audio(sys.argv[2], x if r >= 44100 else resample(x, r, 44100), max(r, 44100), sys.argv[3])")


def kind_processes(original, model, work, kinds):
    """Rows per input kind: ``original`` (44.1 kHz) made into each kind of ``kinds`` (names of
    :data:`superres.kinds.KINDS`), then the decode-and-sinc process and ``superres predict`` on that file.

    The i-th kind's input is ``work/kind-i.EXT``, its base's output ``work/kind-i-base.wav`` and its prediction
    the folder ``work/kind-i-out``."""
    import soundfile as sf

    from superres.bench import measure_process
    from superres.kinds import KINDS, make_input

    original = Path(original)
    if original.is_file():
        x, rate = sf.read(str(original), dtype="float32", always_2d=True)
        if rate != 44100:
            sys.exit(f"{original}: {rate} Hz; --original takes a 44.1 kHz song")
    else:
        from superres.bench import _signal

        original = Path("synthetic-5min.wav")
        x = _signal(300.0, 44100).astype("float32") / 32768.0
    seconds = len(x) / 44100
    label = f"{original.name} ({seconds:.0f} s, {x.shape[1]} ch)"
    superres_cmd = str(Path(sys.executable).with_name("superres"))
    os.environ["PYTHONPATH"] = str(ROOT)
    rows = []
    for name in kinds:
        how, ext = KINDS[name]
        stem = Path(work) / f"kind-{len(rows) // 2}"
        path = stem.with_suffix(ext)
        make_input(x, str(path), how)
        base = "decode" if how[0] != "rate" or how[1] == 44100 else "sinc upsample (soxr VHQ)"
        subtype = "PCM_16" if how[0] == "rate" else "FLOAT"
        for cmd, what in (([sys.executable, "-c", _DECODE_SINC, str(path), f"{stem}-base.wav", subtype],
                           f"{name} input: {base}, {label}"),
                          ([superres_cmd, "predict", "--model", str(model), "--output", f"{stem}-out",
                            "--overwrite", str(path)],
                           f"{name} input: superres predict, {Path(model).name} model, {label}")):
            rows.append(measure_process(cmd, seconds, what))
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
                        "make music pretrained's scan; else --original made into one; else a synthetic 5-minute "
                        "stereo file)")
    p.add_argument("--model", default=str(ROOT / "models" / "default"), help="model for the whole-process rows")
    p.add_argument("--core-env", help="a virtual environment with the light install (pip install superres, "
                                      "no training extra): its superres predict gets a whole-process row too")
    p.add_argument("--original", default=str(ROOT / "data" / "music" / "heldout" / "wesnoth-1.16-music" /
                                             "battle.wav"),
                   help="44.1 kHz song made into every --kinds input (default: the original of --song's default; "
                        "a synthetic 5-minute stereo signal when it is absent)")
    p.add_argument("--kinds", nargs="*", default=["22.05 kHz", "16 kHz", "15 kHz", "32 kHz", "MP3 128 kbps",
                                                  "AAC 128 kbps", "Opus 96 kbps", "full band"],
                   help="input kinds (superres.kinds.KINDS) of the per-kind whole-process rows; none to skip them")
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
            rows += whole_processes(args.song, args.model, work, args.core_env, args.original)
            rows += kind_processes(args.original, args.model, work, args.kinds)
    from superres.bench import format_markdown, machine

    text = format_markdown(rows, machine())
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
