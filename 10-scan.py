#!/usr/bin/env python3
"""Stage 10: downsample the 44.1 kHz originals to 22.05 kHz (band-limited, soxr VHQ, 16-bit).

The same command as ``superres scan``; ``--help`` lists the options.
"""

import sys

from superres.cli import exit_process
from superres.commands import script

if __name__ == "__main__":
    exit_process(script("scan", sys.argv[1:]))
