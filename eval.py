#!/usr/bin/env python3
"""Report the MAE (16-bit units) against the original of the naive upsample and the network's output."""

import argparse
import sys

from superres.cli import run


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--predicted", nargs="+", default=["data/predicted"],
                   help="folders written by rnn-super-resolution.py --predict (one column each)")
    p.add_argument("--scan", default=None, help="10-scan.py output with the songs (default: the model's)")
    p.add_argument("--train-fraction", type=float, default=None,
                   help="the test part starts at this share of each song (default: the model's dataset)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    from superres.evaluate import evaluate, format_table

    print(format_table(evaluate(args.predicted, args.scan, args.train_fraction)))


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))
