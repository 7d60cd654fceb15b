"""Files that hold secrets or people's data: mode 0600, in a directory of mode 0700, whatever
the umask of the process that writes them (022 leaves files world-readable, 000 writable too).

The databases (SQLite and its ``-wal``/``-shm``, the warehouse's DuckDB), the Litestream
replica and its local state, issuer keys, the secret-key file and the demo's credentials all
go through here. A directory kassa makes for them is made 0700; one that exists already is
tightened to 0700 when this user owns it, unless it is a shared place (sticky, like /tmp), which
is left as it is: the files in it are 0600 all the same. docs/operations.md lists them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
# A process that runs a tool writing such files (Litestream) gives it this umask.
UMASK = 0o077


def private_dir(path: Path) -> Path:
    """``path`` as a directory of mode 0700 (made with its missing parents, those 0700 too)."""
    path = Path(path)
    missing = []
    at = path
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # another process made it meanwhile
    _tighten(path, DIR_MODE, missing)
    return path


def _tighten(path: Path, mode: int, made: list[Path]) -> None:
    try:
        st = path.stat()
    except OSError:
        return
    if stat.S_IMODE(st.st_mode) == mode:
        return
    if st.st_uid != os.geteuid() or (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
        return  # not ours to change, or a shared place like /tmp
    try:
        os.chmod(path, mode)
    except OSError as err:
        log.warning("could not make %s mode %o: %s", path, mode, err)
        return
    if path not in made:
        log.info("made %s mode %o (it held secrets or people's data readable by others)",
                 path, mode)


def private_file(path: Path) -> Path:
    """Make ``path`` an empty file of mode 0600 when it is missing (so that whatever writes it
    next keeps that mode: SQLite gives its -wal and -shm the database's mode); tighten an
    existing one to 0600. Its directory is made private too."""
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE, [])
    else:
        os.close(fd)
    return path


def tighten(*paths: Path) -> None:
    """Mode 0600 for each of these files that exists (one a library made with the umask's)."""
    for path in paths:
        _tighten(Path(path), FILE_MODE, [])


def private_tree(root: Path) -> None:
    """Everything under ``root`` private: what a library wrote there with the umask's modes."""
    for path in Path(root).rglob("*"):
        _tighten(path, DIR_MODE if path.is_dir() else FILE_MODE, [])


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, mode 0600 from the first byte."""
    path = Path(path)
    private_dir(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def umask_for_child() -> None:
    """``preexec_fn`` of a subprocess that writes such files itself (Litestream)."""
    os.umask(UMASK)
