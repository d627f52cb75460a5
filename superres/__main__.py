"""``python -m superres``: the ``superres`` command (:func:`superres.commands.console`), for an environment whose
scripts folder is not on the PATH."""

from .commands import console

if __name__ == "__main__":
    console()
