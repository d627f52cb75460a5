#!/usr/bin/env python3
"""Stage 20: encode the songs as 16-bit binary vectors in windows; first 80% of each song to train, rest to test."""

import argparse
import sys

from superres.cli import run
from superres.dataset import ENCODINGS, INPUTS


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", default="data/22k", help="output folder of 10-scan.py")
    p.add_argument("--output", default="data/dataset", help="folder for the .npy arrays and meta.json")
    p.add_argument("--window", type=int, default=50, help="window length in 44.1 kHz steps (even)")
    p.add_argument("--hop", type=int, default=None, help="steps between windows (default: the window length)")
    p.add_argument("--train-fraction", type=float, default=0.8, help="share of each song, from its start, "
                                                                      "used for training")
    p.add_argument("--upsample", choices=INPUTS, default="naive",
                   help="how the 22.05 kHz input is brought to 44.1 kHz before encoding: naive (each sample "
                        "twice, the blog) or sinc (band-limited, soxr VHQ)")
    p.add_argument("--encoding", choices=list(ENCODINGS), default="bits",
                   help="bits: 16-bit binary vectors (the blog); pcm: plain int16 samples")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    from superres.dataset import build_dataset

    meta = build_dataset(args.input, args.output, args.window, args.hop, args.train_fraction,
                         input=args.upsample, encoding=args.encoding)
    c = meta["counts"]
    print(f"{c['train']} train and {c['test']} test windows of {meta['window']} steps -> {args.output}")


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))
