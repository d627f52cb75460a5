#!/usr/bin/env python3
"""Rebuild the full-band music corpus (data/music) from Debian packages.

Usage: tools/build_music_set.py [--out data/music] [--cache data/music/.debs] [--demo data/demo]

Downloads wesnoth-1.16-music, sonic-pi-samples and hydrogen-drumkits with `apt-get download` (once; the
.debs are kept in the cache), unpacks them with `dpkg-deb -x` (nothing is installed), drops lowpassed,
short and demo files, and writes 16-bit 44.1 kHz WAVs to <out>/train/<package>/ and <out>/heldout/<package>/
with sources.json and SOURCES.md beside them. Re-running gives the same files.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from superres.cli import run  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "data" / "music"), help="output folder")
    p.add_argument("--cache", default=None, help="folder for the .deb files and their unpacked trees "
                                                 "(default: <out>/.debs)")
    p.add_argument("--demo", default=str(ROOT / "data" / "demo"), help="folder of demo songs to keep out")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    import corpus

    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out / ".debs"
    records, packages, caps = corpus.build(out, cache, args.demo)
    print(corpus.format_summary(records, packages))
    for package, c in caps.items():
        print(f"{package}: capped at {c['cap_seconds'] / 60:.0f} min, every {c['step']}th file kept")
    print(f"-> {out}/train, {out}/heldout, {out}/sources.json, {out}/SOURCES.md")


if __name__ == "__main__":
    sys.exit(run(main, sys.argv[1:]))
