#!/usr/bin/env python3
"""Stage 10: downsample the 44.1 kHz originals to 22.05 kHz (band-limited, soxr VHQ, 16-bit)."""

import argparse
import sys

from superres.cli import run


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", default="data/original",
                   help="folder of original WAV/FLAC/OGG files, searched recursively (other rates are resampled "
                        "to 44.1 kHz first)")
    p.add_argument("--output", default="data/22k", help="folder for the 22.05 kHz WAVs and manifest.json")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    from superres.scan import scan

    m, failures = scan(args.input, args.output)
    secs = sum(e["frames_high"] for e in m["files"]) / 44100
    print(f"{len(m['files'])} files, {secs:.1f} s of audio -> {args.output}")
    if failures:
        print(f"{len(failures)} file(s) failed and were left out:", file=sys.stderr)
        for _, msg in failures:
            print(f"  {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))
