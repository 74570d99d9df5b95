"""Output files that are whole or absent, and write errors that say where and why.

A full disk, a read-only folder or a file where a folder should be can stop a write half
way. Every output sertk produces for users (manifests, prediction tables, run files,
checkpoints, cache entries) is therefore written to a temporary file in the same folder
and renamed into place with ``os.replace``, so a reader never finds a truncated file under
the final name; on failure the temporary file is removed.

The operating system reports a full disk on ``write()`` with no file name
(``[Errno 28] No space left on device``), so :func:`naming` adds the path, and
:func:`os_error_message` turns any ``OSError`` into the one line the command line prints.

Text that users hand to sertk (manifests, list files, recipes) is read with
:func:`open_text` / :func:`read_text`: UTF-8, with a byte-order mark (which Windows editors
and Excel put at the start of a file) dropped instead of glued to the first column name.

Example:
    >>> with atomic_open("preds.csv", newline="") as fh:   # doctest: +SKIP
    ...     fh.write("path,label\\n")
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import IO, Iterator

#: How user text is decoded: UTF-8, a leading byte-order mark (U+FEFF) dropped.
TEXT_ENCODING = "utf-8-sig"


def open_text(path: str | os.PathLike, *, newline: str | None = None, errors: str = "strict",
              encoding: str = TEXT_ENCODING) -> IO[str]:
    """Open a user's text file (manifest, list file, recipe) for reading as UTF-8, without
    its byte-order mark if it has one. ``newline=""`` for the ``csv`` module; ``encoding``
    only for formats that fix another one (IEMOCAP's latin-1 label files)."""
    return open(path, encoding=encoding, newline=newline, errors=errors)


def read_text(path: str | os.PathLike, *, errors: str = "strict",
              encoding: str = TEXT_ENCODING) -> str:
    """The whole text of a user's file (see :func:`open_text`)."""
    with open_text(path, errors=errors, encoding=encoding) as fh:
        return fh.read()


@contextlib.contextmanager
def naming(path: str | os.PathLike, *, instead_of: str | os.PathLike | None = None
           ) -> Iterator[None]:
    """Re-raise an ``OSError`` that names no file (or names ``instead_of``, a temporary
    file the user never asked for) as the same error naming ``path``."""
    try:
        yield
    except OSError as err:
        hidden = instead_of is not None and err.filename is not None and (
            str(err.filename) == str(instead_of))
        if (err.filename is None or hidden) and err.errno is not None:
            raise type(err)(err.errno, err.strerror or os.strerror(err.errno),
                            str(path)) from err
        raise


def temporary_path(path: str | os.PathLike) -> Path:
    """A hidden name beside ``path``, private to this process and thread."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None, durable: bool = True) -> Iterator[IO]:
    """Open a temporary file for writing; on success fsync it and rename it onto ``path``.

    The parent folder is created. On any error (in the ``with`` body too) the temporary
    file is removed, ``path`` is left as it was, and an ``OSError`` names ``path``.
    ``durable=False`` skips the fsyncs of the file and its folder (a cache entry that
    can be rebuilt: still whole or absent to readers, not necessarily after a power cut).
    """
    path = Path(path)
    if "b" in mode:
        encoding = None
    tmp = temporary_path(path)
    _make_parent(path)
    with naming(path, instead_of=tmp):
        try:
            with open(tmp, mode, encoding=encoding, newline=newline) as fh:
                yield fh
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    if durable:
        _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data: bytes | str, *, durable: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see :func:`atomic_open`)."""
    mode = "wb" if isinstance(data, bytes) else "w"
    with atomic_open(path, mode, durable=durable) as fh:
        fh.write(data)
    return Path(path)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened or synced."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable_folder(path: str | os.PathLike) -> None:
    """Make sure the output file ``path`` can be created, before hours of work: create its
    folder and a temporary file there (removed again), or raise the ``OSError`` that says
    why not, naming ``path``."""
    path = Path(path)
    tmp = temporary_path(path)
    _make_parent(path)
    with naming(path, instead_of=tmp):
        try:
            with open(tmp, "wb"):
                pass
        finally:
            tmp.unlink(missing_ok=True)


def make_parent(path: str | os.PathLike) -> None:
    """Create the folder of ``path``; an error names ``path``, the file that was wanted."""
    _make_parent(Path(path))


def _make_parent(path: Path) -> None:
    """Create the folder of ``path``; an error names ``path``, the file that was wanted."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if err.errno is None:
            raise
        raise type(err)(err.errno, err.strerror or os.strerror(err.errno), str(path)) from err


def os_error_message(err: OSError) -> str:
    """One line, ``<path>: <reason>``, for an ``OSError`` (both paths of a failed rename).

    A file standing where a folder must be is named as the cause.
    """
    reason = err.strerror or str(err) or type(err).__name__
    if err.filename is None:
        return reason
    where = str(err.filename)
    if err.filename2 is not None:
        where += f" -> {err.filename2}"
    if isinstance(err, (FileExistsError, NotADirectoryError)):
        blocker = _file_in_the_way(Path(str(err.filename)))
        if blocker is not None:
            reason = (f"{blocker} is a file, not a folder" if str(blocker) != where
                      else "is a file, not a folder")
    return f"{where}: {reason}"


def short_error(err: BaseException, *, first: bool = False, limit: int = 300) -> str:
    """One line of a library's (possibly multi-line) error message for a user: its last
    non-empty line (decoders put the cause last), or with ``first`` its first (exporters
    put the summary first); at most ``limit`` characters; the type's name if it says nothing.

    >>> short_error(RuntimeError("Error opening 'x.wav':\\nFormat not recognised."))
    'Format not recognised.'
    >>> short_error(ValueError(""))
    'ValueError'
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return (lines[0] if first else lines[-1])[:limit]


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists and is not a folder, if any
    (``path`` itself only counts when it has no suffix, i.e. was meant as a folder)."""
    candidates = ([path] if not path.suffix else []) + list(path.parents)
    for candidate in candidates:
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None
