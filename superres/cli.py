"""Shared plumbing for the command line: quiet start-up, one-line errors, signals, option types."""

import argparse
import math
import os
import signal
import sys

from . import errors
from .errors import Interrupted, UserError


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


def _interrupt(signum, frame):
    # Further signals are ignored while the stack unwinds: a second Ctrl-C must not cut a clean-up short.
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    errors.received_signal = signum
    raise Interrupted(signum)


def run(main, argv):
    """Call ``main(argv)`` as a command: errors as one line, signals as a clean stop.

    - :class:`UserError` prints ``error: ...`` and exits 2 (``--debug`` anywhere on the command line shows
      the traceback instead).
    - SIGINT (Ctrl-C) and SIGTERM (``kill``, ``timeout``, a closed terminal) stop the work at the next Python
      instruction, remove temporary files on the way out, print one line and exit 130 or 143 (128 + the
      signal number, as a shell reports it).
    """
    handlers = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            handlers[s] = signal.signal(s, _interrupt)
    except ValueError:  # not the main thread: leave signals to the caller
        pass
    errors.received_signal = None
    try:
        return main(argv) or 0
    except BaseException as e:
        # A signal raised inside a C extension can come out as another exception: the flag tells.
        signum = errors.received_signal or (getattr(e, "signum", signal.SIGINT)
                                            if isinstance(e, KeyboardInterrupt) else None)
        if signum is not None:
            print(f"interrupted ({signal.Signals(signum).name}); stopped, temporary files removed",
                  file=sys.stderr)
            return 128 + signum
        if not isinstance(e, UserError) or "--debug" in argv:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        errors.received_signal = None
        for s, h in handlers.items():
            signal.signal(s, h)


def exit_process(code):
    """End a command's process with ``code``: after a signal, at once.

    The work has stopped and its temporary files are gone by the time :func:`run` returns; what is left is
    the interpreter's teardown, where TensorFlow joins its threads for seconds. A stopped command should not
    keep the terminal (or ``timeout``) waiting for that.
    """
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


# Option types: each refuses a value that makes no sense at parse time, so that argparse prints
# "error: argument --NAME: ..." naming the option, before any work starts.

def _number(kind, text):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}")
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text})")
    return v


def _option_type(kind, accept, wanted, doc):
    """An argparse ``type=``: a number of ``kind`` for which ``accept(value)`` holds, else "must be WANTED"."""
    def parse(text):
        v = _number(kind, text)
        if not accept(v):
            raise argparse.ArgumentTypeError(f"must be {wanted} (got {text})")
        return v

    parse.__doc__ = doc
    return parse


positive_int = _option_type(int, lambda v: v >= 1, "a positive integer", "An integer >= 1.")
nonnegative_int = _option_type(int, lambda v: v >= 0, "0 or a positive integer", "An integer >= 0.")
#: A whole number of 22.05 kHz frames in 44.1 kHz steps.
even_int = _option_type(int, lambda v: v >= 2 and v % 2 == 0, "an even integer >= 2", "An even integer >= 2.")
positive_float = _option_type(float, lambda v: v > 0, "a positive number", "A finite number > 0.")
nonnegative_float = _option_type(float, lambda v: v >= 0, "0 or a positive number", "A finite number >= 0.")
fraction = _option_type(float, lambda v: 0 < v < 1, "between 0 and 1, exclusive", "A number strictly between 0 and 1.")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default once: appended as ``(default: X)`` unless the help text gives it already
    (``default`` in the text), or there is none to show (None, False, an empty list)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or "default" in text.lower() or action.default in (None, False, [])
                or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"
