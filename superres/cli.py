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
    except ImportError as e:
        raise UserError(f"this needs the training stack, which this install does not have ({e}): "
                        "pip install 'superres[train]'") from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


#: glibc's mallopt parameters (malloc.h) and the values a command sets (:func:`keep_freed_memory`).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_BYTES, _MMAP_BYTES = 256 << 20, 32 << 20


def keep_freed_memory():
    """Let glibc's allocator keep the memory a command frees, for its next arrays (Linux; elsewhere nothing).

    The streams allocate and free arrays of a few MB to a few tens of MB at every block; by default glibc maps
    those larger than a moving threshold afresh and gives freed memory back at once, so the kernel zeroes and
    faults in every page again (measured: 280,000 page faults and a third of the wall time in the kernel for a
    5-minute song). Raised thresholds (freed memory kept up to 256 MB, fresh maps from 32 MB) make that 55,000:
    prediction 10-20% faster, its peak memory within 3%.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)) and bool(libc.mallopt(_M_MMAP_THRESHOLD,
                                                                                        _MMAP_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


def _interrupt(signum, frame):
    # Further signals are ignored while the stack unwinds: a second Ctrl-C must not cut a clean-up short.
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    errors.received_signal = signum
    raise Interrupted(signum)


def run(main, argv):
    """Call ``main(argv)`` as a command: errors as one line, signals as a clean stop, freed memory kept
    (:func:`keep_freed_memory`).

    - :class:`UserError` prints ``error: ...`` and exits 2 (``--debug`` anywhere on the command line shows
      the traceback instead).
    - SIGINT (Ctrl-C) and SIGTERM (``kill``, ``timeout``, a closed terminal) stop the work at the next Python
      instruction, remove temporary files on the way out, print one line and exit 130 or 143 (128 + the
      signal number, as a shell reports it).
    """
    keep_freed_memory()
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


# Upper bounds: every number is refused beyond what the code that takes it can hold, so that an absurd value
# is one "error: argument --NAME" line here rather than an OverflowError or an allocation failure later. Whether
# a network of the given sizes fits this machine's memory is checked apart, once its window is known
# (:func:`superres.archs.check_fits`).

#: Largest count or size (layer widths, windows, hops, batches, epochs): a 32-bit signed integer. Sizes past it
#: are far beyond what any memory holds (the memory checks refuse much smaller ones), and past 64 bits numpy and
#: TensorFlow fail with an OverflowError rather than a message.
MAX_INT = 2 ** 31 - 1
#: Largest random seed: what ``numpy.random.seed`` (called by ``keras.utils.set_random_seed``) accepts.
MAX_SEED = 2 ** 32 - 1
#: Largest float setting (learning rate, decay, loss weights): the largest float32, the network's arithmetic.
MAX_FLOAT32 = 3.4028234663852886e38
#: Longest stretch of audio an option may name (``--chunk-seconds``, ``--clip-seconds``, ``--visqol``): 2**31 - 1
#: frames at 44.1 kHz, 13.5 hours. Such a stretch is held as one array (a stereo chunk of that length alone is
#: 34 GB of float64), and every frame count of it stays within 32-bit integers.
MAX_SECONDS = MAX_INT // 44100
#: Longest wait (``--worker-timeout``): what ``select`` and ``threading`` take as a timeout, about 292 years.
MAX_WAIT_SECONDS = 9223372036


def _below(kind, hi):
    """`` up to HI`` for a message: the upper bound as the user would type it."""
    whole = kind is int or (float(hi).is_integer() and hi < 1e15)
    return f" up to {int(hi)}" if whole else f" up to {hi:.8g}"


def int_range(lo, hi, what=None):
    """An argparse ``type=``: an integer from ``lo`` to ``hi``, else "must be WHAT up to HI (got ...)"."""
    what = what or {0: "0 or a positive integer", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
    return _option_type(int, lambda v: lo <= v <= hi, what + _below(int, hi), f"An integer from {lo} to {hi}.")


def float_range(lo, hi, what, open_low=False):
    """An argparse ``type=``: a finite number from ``lo`` (excluded if ``open_low``) to ``hi``."""
    return _option_type(float, lambda v: (v > lo if open_low else v >= lo) and v <= hi, what + _below(float, hi),
                        f"A finite number {'>' if open_low else '>='} {lo:g} and <= {hi:g}.")


positive_int = int_range(1, MAX_INT)
nonnegative_int = int_range(0, MAX_INT)
#: A whole number of 22.05 kHz frames in 44.1 kHz steps.
even_int = _option_type(int, lambda v: 2 <= v <= MAX_INT and v % 2 == 0, f"an even integer from 2 to {MAX_INT}",
                        f"An even integer from 2 to {MAX_INT}.")
seed = int_range(0, MAX_SEED)
positive_float = float_range(0, MAX_FLOAT32, "a positive number", open_low=True)
nonnegative_float = float_range(0, MAX_FLOAT32, "0 or a positive number")
#: Seconds of audio.
positive_seconds = float_range(0, MAX_SECONDS, "a positive number of seconds", open_low=True)
nonnegative_seconds = float_range(0, MAX_SECONDS, "0 or a positive number of seconds")
#: Seconds to wait; 0 for ever.
wait_seconds = float_range(0, MAX_WAIT_SECONDS, "0 or a positive number of seconds")
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
