"""Errors meant for the user rather than for a traceback."""

import sys


class UserError(Exception):
    """A problem the user can fix: bad input, a missing folder, a mismatched manifest.

    The message is one line that names the file, says what is wrong and what to do. The scripts print it
    without a traceback and exit non-zero.
    """


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (see :func:`superres.cli.run`): stop, removing temporary files on the way out.

    A subclass of ``KeyboardInterrupt``, not of ``Exception``: the ``except Exception`` blocks that turn a bad
    file into a reported failure must not swallow it.
    """

    # Code that re-raises an exception as ``type(e)(*e.args)`` must get an equal one back: the signal number
    # lives in ``args``.
    def __init__(self, signum=2, *args):
        super().__init__(signum, *args)

    @property
    def signum(self):
        s = self.args[0] if self.args else None
        return int(s) if isinstance(s, int) else 2


def check_finite(x, path):
    """Refuse float audio holding NaN or infinite samples (they would poison every later stage); return ``x``."""
    import numpy as np

    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise UserError(f"{path}: contains {bad} NaN or infinite sample(s); repair or re-export the file")
    return x


#: The signal received, if any: set by the command line's handler before it raises :class:`Interrupted`.
received_signal = None


def check_interrupted():
    """Raise :class:`Interrupted` if a signal arrived.

    The handler raises at once, but an exception raised inside a C extension's call (TensorFlow, libsndfile)
    can come out as another exception type, which a per-file ``except`` would then take for a bad file. The
    loops over files, blocks and batches call this, so that a stop is never lost.
    """
    if received_signal is not None:
        raise Interrupted(received_signal)


def to_stderr(line):
    """Print one line to stderr: the per-file ``error:`` lines of a batch, apart from its progress on stdout."""
    print(line, file=sys.stderr)
