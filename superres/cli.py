"""Shared plumbing for the command-line scripts: quiet start-up and one-line errors."""

import os
import sys

from .errors import UserError


def quiet_backend():
    """Silence TensorFlow's start-up chatter unless the user asked for it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run(main, argv):
    """Call ``main(args)`` and turn a :class:`UserError` into ``error: ...`` and exit status 2.

    ``--debug`` anywhere on the command line shows the full traceback instead.
    """
    try:
        return main(argv) or 0
    except UserError as e:
        if "--debug" in argv:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
