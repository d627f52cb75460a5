#!/usr/bin/env python3
"""Score the network against the original next to the naive, linear and sinc (soxr) baselines.

Metrics: MAE (16-bit units), SNR (dB), log-spectral distance over the whole band (LSD) and over the
reconstructed band 11.025-22.05 kHz (LSD-HF), and the energy above 11.025 kHz relative to the original.
By default each song's test part (the last 20%, never trained on) is scored.
"""

import argparse
import json
import sys
from pathlib import Path

from superres.cli import quiet_backend, run
from superres.runtime import RUNTIMES


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to score")
    src.add_argument("--predicted", nargs="+", default=[], metavar="DIR",
                     help="folders written by rnn-super-resolution.py --predict (default: data/predicted, "
                          "when no --models or --pairs are given)")
    src.add_argument("--models", nargs="+", default=[], metavar="DIR",
                     help="model folders to run on the songs here, one table row each")
    src.add_argument("--runtime", nargs="+", default=["keras"], choices=RUNTIMES, metavar="RUNTIME",
                     help="run --models on these runtimes, a row each: keras, onnx, onnx-int8 (bilstm only; "
                          "see rnn-super-resolution.py --help)")
    src.add_argument("--scan", default=None, metavar="DIR",
                     help="10-scan.py output with the songs (default: the first model's)")
    src.add_argument("--whole", action="store_true", help="score whole songs, not just their test parts")
    src.add_argument("--train-fraction", type=float, default=None,
                     help="the test part starts at this share of each song (default: the model's dataset)")
    src.add_argument("--pairs", nargs=2, metavar=("REF_DIR", "EST_DIR"),
                     help="score any folder of 44.1 kHz estimates against a folder of references with the "
                          "same names (whole files; baselines from the references' soxr downsample)")
    out = p.add_argument_group("outputs")
    out.add_argument("--json", metavar="PATH", help="write every number to this JSON file")
    out.add_argument("--markdown", metavar="PATH", help="write the tables as markdown to this file")
    out.add_argument("--plots", metavar="DIR", help="write a spectrogram PNG per song and a training-history "
                                                    "PNG per model")
    out.add_argument("--report", metavar="PATH", help="write a self-contained HTML listening report")
    out.add_argument("--clip-seconds", type=float, default=30.0, help="longest excerpt per report player")
    out.add_argument("--mean-only", action="store_true", help="print only the mean table")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)

    predicted = args.predicted or ([] if args.models or args.pairs else ["data/predicted"])
    if args.models:
        quiet_backend(args.debug)
    from superres.evaluate import evaluate, format_result

    keep_audio = bool(args.report or args.plots)
    result = evaluate(predicted, args.models, args.scan, args.train_fraction, args.whole, args.pairs,
                      keep_audio=keep_audio, log=lambda s: print(s, file=sys.stderr), runtimes=args.runtime)
    print(format_result(result, per_song=not args.mean_only))
    if args.markdown:
        _write(args.markdown, format_result(result, markdown=True, per_song=not args.mean_only) + "\n")
    if args.json:
        numbers = {k: v for k, v in result.items() if k != "audio"}
        _write(args.json, json.dumps(numbers, indent=2, allow_nan=True) + "\n")
    model_dirs = list(dict.fromkeys([str(Path(d).resolve()) for d in args.models]
                                    + [_model_dir(d) for d in predicted]))
    if args.plots:
        from superres.report import write_pngs

        for path in write_pngs(result, args.plots, model_dirs):
            print(f"wrote {path}", file=sys.stderr)
    if args.report:
        from superres.report import write_report

        print(f"wrote {write_report(result, args.report, model_dirs, args.clip_seconds)}", file=sys.stderr)


def _model_dir(predicted_dir):
    from superres.manifest import read_manifest

    return read_manifest(predicted_dir, "predict")["model_dir"]


def _write(path, text):
    from superres.audio import atomic_output

    with atomic_output(path) as tmp:
        Path(tmp).write_text(text)


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))
