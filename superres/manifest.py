"""JSON manifests written beside each stage's output and checked by the next stage.

Every manifest carries ``stage`` and ``format_version`` so that a stage can refuse input written by another
version of the pipeline instead of silently misreading it.
"""

import json
import os
import tempfile
from pathlib import Path

from .errors import UserError

#: Bumped whenever the layout of any stage's output changes incompatibly.
FORMAT_VERSION = 2

MANIFEST_NAME = "manifest.json"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_tempfile(path, suffix=".tmp"):
    """Create an empty temporary file beside ``path`` with normal permissions; return its name.

    ``mkstemp`` creates files readable by the owner alone; the final output should get the permissions any
    ordinary new file would.
    """
    path = Path(path)
    # The name is shortened so that a temporary name stays within the 255-byte limit of file names whatever
    # the output's own name.
    stem = path.name.encode()[:80].decode(errors="ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return tmp


def relative_path(path, folder):
    """``path`` as a manifest in ``folder`` records it: relative to that folder, with ``/`` separators.

    Manifests and model configs name no directory of the machine that wrote them: the folders of a pipeline
    can be moved or copied together (or a model folder shipped) and still find each other.
    """
    return Path(os.path.relpath(Path(path).resolve(), Path(folder).resolve())).as_posix()


def resolve_path(value, folder):
    """A path read from a manifest in ``folder`` (relative to it; an absolute one, from an older manifest,
    as it is)."""
    return Path(folder) / value


def write_json_atomic(path, obj):
    """Write ``obj`` as indented JSON to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, even if the process is killed mid-write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_tempfile(path)
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path, what):
    """Read a JSON file, turning a missing or corrupt file into a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found; run the previous stage first")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: {what} is unreadable ({e}); delete it and re-run the stage that writes it")


_RERUN = "re-run the stage that wrote it"


def read_manifest(path, stage, what=None, fix=_RERUN):
    """Read a stage manifest and check its stage name and format version.

    Parameters
    ----------
    path : path-like
        The manifest file, or the folder holding ``manifest.json``.
    stage : str
        Expected value of the ``stage`` field (``"scan"``, ``"dataset"``, ``"model"``, ``"predict"``).
    what : str, optional
        How to call the manifest in messages.
    fix : str
        What to do about a manifest of another format version, for the message.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / MANIFEST_NAME
    what = what or f"{stage} manifest"
    return _checked(read_json(path, what), path, stage, what, fix)


def _checked(m, path, stage, what, fix):
    """``m``, read from ``path``, if it is a manifest of ``stage`` in this format version; else a UserError."""
    if not isinstance(m, dict) or m.get("stage") != stage:
        raise UserError(f"{path}: not a {what} (stage is {m.get('stage') if isinstance(m, dict) else None!r}, "
                        f"expected {stage!r}); point the command at the right folder")
    if m.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: written by format version {m.get('format_version')}, this version reads "
                        f"{FORMAT_VERSION}; {fix}")
    return m


def previous_manifest(folder, stage):
    """A stage's own earlier manifest in its output folder, for incremental reruns; None if there is none.

    One of another format version is ignored (everything is redone and the manifest rewritten): rerunning
    the stage is exactly what its message asks for. One of another stage is refused, so that a mistyped
    output folder does not overwrite another stage's files.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    m = read_json(path, f"{stage} manifest")
    if isinstance(m, dict) and m.get("stage") == stage and m.get("format_version") != FORMAT_VERSION:
        return None
    return _checked(m, path, stage, f"{stage} manifest", _RERUN)


def require_equal(actual, expected, keys, where, fix):
    """Refuse to go on if ``actual[k] != expected[k]`` for any ``k`` in ``keys``.

    Parameters
    ----------
    actual, expected : dict
    keys : iterable of str
    where : str
        The file or folder the ``actual`` values come from, named in the message.
    fix : str
        What the user should do about a mismatch.
    """
    for k in keys:
        if actual.get(k) != expected.get(k):
            raise UserError(f"{where}: {k} is {actual.get(k)!r} but {expected.get(k)!r} is required; {fix}")
