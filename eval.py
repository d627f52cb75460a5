#!/usr/bin/env python3
"""Score the network against the original next to the naive, linear and sinc (soxr) baselines.

The same command as ``superres eval``; ``--help`` lists the options and metrics.
"""

import sys

from superres.cli import exit_process
from superres.commands import script

if __name__ == "__main__":
    exit_process(script("eval", sys.argv[1:]))
