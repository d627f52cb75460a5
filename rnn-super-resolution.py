#!/usr/bin/env python3
"""Train the super-resolution network (--train) or apply it to 22.05 kHz audio (--predict).

The same commands as ``superres train`` and ``superres predict``; ``--help`` lists the options.
"""

import sys

from superres.cli import exit_process, run
from superres.commands import blog_main

if __name__ == "__main__":
    exit_process(run(blog_main, sys.argv[1:]))
