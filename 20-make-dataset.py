#!/usr/bin/env python3
"""Stage 20: encode the songs as 16-bit binary vectors in windows; first 80% of each song to train, rest to test.

The same command as ``superres dataset``; ``--help`` lists the options.
"""

import sys

from superres.cli import exit_process
from superres.commands import script

if __name__ == "__main__":
    exit_process(script("dataset", sys.argv[1:]))
