#!/usr/bin/env python3
"""Write the "blog's experiment" summary of a ``make blog`` run (markdown, for the README's generated block).

Usage: blog_report.py MODEL_DIR RESULTS.json OUT.md [--data "what the song was"]
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superres.audio import write_text  # noqa: E402
from superres.bench import machine  # noqa: E402
from superres.report import blog_markdown  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="the trained model folder")
    p.add_argument("results", type=Path, help="eval.py --json of its predictions")
    p.add_argument("output", type=Path, help="markdown file to write")
    p.add_argument("--data", default="", help="what the song was (file, excerpt, channels)")
    args = p.parse_args(argv)
    result = json.loads(args.results.read_text())
    write_text(args.output, blog_markdown(result, args.model, machine(), args.data))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
