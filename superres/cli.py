"""Shared plumbing for the command-line scripts: quiet start-up and one-line errors."""

import os
import sys

from .errors import UserError


def quiet_backend(debug=False):
    """Import Keras with the backend's start-up chatter silenced, unless ``debug``.

    TensorFlow prints several lines (oneDNN notes, CUDA probing) through its C++ logger before it reads
    ``TF_CPP_MIN_LOG_LEVEL``, so stderr is pointed at /dev/null at the file-descriptor level for the import
    alone. Python exceptions raised by the import are still shown, after stderr is restored.
    """
    if debug:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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
