"""JSON manifests written beside each stage's output and checked by the next stage.

Every manifest carries ``stage`` and ``format_version`` so that a stage can refuse input written by another
version of the pipeline instead of silently misreading it.
"""

import errno
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


def link_loop(path):
    """Whether ``path`` is a symbolic link that leads back to itself (directly or through other links)."""
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def resolved(path):
    """``Path(path).resolve()``, or a :class:`UserError` naming a symbolic link loop on the way.

    Python before 3.13 raises RuntimeError for a loop, later versions OSError (ELOOP); either way it is one
    line for the user.
    """
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as e:
        if isinstance(e, OSError) and e.errno != errno.ELOOP:
            raise
        raise UserError(f"{path}: symbolic link loop (a link on this path leads back to itself); fix or remove "
                        "the link")


def relative_path(path, folder):
    """``path`` as a manifest in ``folder`` records it: relative to that folder, with ``/`` separators.

    Manifests and model configs name no directory of the machine that wrote them: the folders of a pipeline
    can be moved or copied together (or a model folder shipped) and still find each other.
    """
    return Path(os.path.relpath(resolved(path), resolved(folder))).as_posix()


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


def permission_denied(path):
    """The :class:`UserError` for a file the user may not read (the file's mode, or a folder above it)."""
    return UserError(f"{path}: cannot be read (permission denied); check the permissions of the file and of the "
                     "folders above it")


def read_json(path, what):
    """Read a JSON file, turning a missing, unreadable or corrupt file into a :class:`UserError`."""
    path = Path(path)
    try:
        if not path.is_file():
            raise UserError(f"{path}: {what} not found; run the previous stage first")
        with open(path) as f:
            return json.load(f)
    except PermissionError:  # the file is fine, its permissions are not: deleting it is not the remedy
        raise permission_denied(path)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: {what} is unreadable ({e}); delete it and re-run the stage that writes it")


_RERUN = "re-run the stage that wrote it"

_NONE = type(None)
#: Per stage: the list of entries its manifest holds, the fields of each entry that the stages read with their
#: JSON types, and what to do about a damaged one. Checked whenever a manifest is read (:func:`read_manifest`),
#: so that a hand-edited file is one line naming the entry and the field, not a KeyError wherever the field is
#: first used. A stage's own earlier manifest drops its damaged entries instead (:func:`previous_manifest`).
ENTRIES = {
    "scan": ("files", {"source": str, "output": str, "reference": (str, _NONE), "source_rate": int, "channels": int,
                       "frames_high": int, "frames_low": int}, "re-run 10-scan.py"),
    "dataset": ("songs", {"source": str, "low": str, "channels": int, "frames": int, "split_frame": int,
                          "offset": dict, "windows": dict}, "re-run 20-make-dataset.py"),
    "predict": ("files", {"input": str, "output": str},
                "re-run the prediction into this folder with --overwrite (rnn-super-resolution.py --predict)"),
}
#: Fields besides the entries that the stages read, per stage.
_FIELDS = {"scan": {"input_dir": str}}
_KINDS = {str: "a string", int: "a whole number >= 0", dict: "an object", (str, _NONE): "a string or null"}


def _entry_problem(entry, fields):
    """What is wrong with one manifest entry (a phrase), or None."""
    if not isinstance(entry, dict):
        return f"is not an object ({type(entry).__name__})"
    ident = next((entry[k] for k in ("source", "output", "input") if isinstance(entry.get(k), str)), None)
    where = f"({ident}) " if ident else ""
    for key, kind in fields.items():
        if key not in entry:
            return f"{where}has no {key!r}"
        v = entry[key]
        # bool is an int to Python, not a count to JSON; counts are never negative.
        if not isinstance(v, kind) or isinstance(v, bool) or (kind is int and v < 0):
            return f"{where}has {key} = {v!r}, not {_KINDS[kind]}"
    return None


def check_entries(m, path, stage):
    """Refuse a manifest of ``stage`` (see :data:`ENTRIES`) whose entry list is missing or has a damaged entry.

    The message names the manifest, the entry (its number and name) and the field, and the stage to re-run.
    """
    if stage not in ENTRIES:
        return
    key, fields, fix = ENTRIES[stage]
    if not isinstance(m.get(key), list):
        raise UserError(f"{path}: incomplete or edited (no {key!r} list); {fix}")
    for field, kind in _FIELDS.get(stage, {}).items():
        if not isinstance(m.get(field), kind):
            raise UserError(f"{path}: incomplete or edited ({field} is {m.get(field)!r}, not {_KINDS[kind]}); {fix}")
    for i, entry in enumerate(m[key]):
        problem = _entry_problem(entry, fields)
        if problem:
            raise UserError(f"{path}: {key} entry {i + 1} {problem}; the file was edited or damaged: {fix}")


def _sound_entries(m, stage):
    """``m`` with only its well-formed entries (none if the list itself is missing)."""
    if stage not in ENTRIES:
        return m
    key, fields, _ = ENTRIES[stage]
    entries = m.get(key) if isinstance(m.get(key), list) else []
    return {**m, key: [e for e in entries if _entry_problem(e, fields) is None]}


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
    try:
        if path.is_dir() or not path.suffix:
            path = path / MANIFEST_NAME
    except PermissionError:  # a folder on the way that may not be searched
        raise permission_denied(path)
    what = what or f"{stage} manifest"
    m = _checked(read_json(path, what), path, stage, what, fix)
    check_entries(m, path, stage)
    return m


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
    the stage is exactly what its message asks for. Likewise its damaged entries (a hand-edited file) are
    dropped: what they listed is redone, or treated as files of unknown origin, and the manifest is rewritten
    whole. One of another stage is refused, so that a mistyped output folder does not overwrite another
    stage's files.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    m = read_json(path, f"{stage} manifest")
    if isinstance(m, dict) and m.get("stage") == stage and m.get("format_version") != FORMAT_VERSION:
        return None
    return _sound_entries(_checked(m, path, stage, f"{stage} manifest", _RERUN), stage)


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
