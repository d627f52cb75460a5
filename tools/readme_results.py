#!/usr/bin/env python3
"""Replace a generated block of README.md with a markdown file (eval.py --markdown, tools/bench.py).

Usage: readme_results.py README.md BLOCK FILE.md "how it was made"
The block lies between the lines ``<!-- BLOCK:begin -->`` and ``<!-- BLOCK:end -->``. Of an evaluation with
per-song tables, only the mean table (from its "**Mean over" line on) goes into the README.
"""

import datetime
import os
import platform
import sys
from pathlib import Path

def main(readme, name, results, how):
    BEGIN, END = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = Path(readme).read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    stamp = (f"_Generated {datetime.date.today().isoformat()} by `{how}` on {platform.machine()}, "
             f"{os.cpu_count()} CPU cores; do not edit by hand._")
    body = Path(results).read_text()
    if "**Mean over" in body:
        body = body[body.index("**Mean over"):]
    block = f"{BEGIN}\n{stamp}\n\n{body.strip()}\n{END}"
    tmp = Path(readme).with_name(f".{Path(readme).name}.tmp")
    tmp.write_text(head + block + tail)
    os.replace(tmp, readme)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
