"""Errors meant for the user rather than for a traceback."""


class UserError(Exception):
    """A problem the user can fix: bad input, a missing folder, a mismatched manifest.

    The message is one line that names the file, says what is wrong and what to do. The scripts print it
    without a traceback and exit non-zero.
    """
