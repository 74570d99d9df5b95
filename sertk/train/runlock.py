"""One writer per run directory and per fold: exclusive locks that die with their process.

Two ``sertk train``/``cv`` commands writing one run directory at once would interleave their
files, so each writer holds an exclusive ``fcntl.flock`` on a lock file in the run directory:

- ``RUN_DIR/.sertk-run.lock`` briefly, while the recipe (``config.yaml``/``.json``) and the
  split (``run.json``) are compared and written, so a second recipe always sees the first;
- ``RUN_DIR/.sertk-<fold>.lock`` (``fold-00``, ..., ``final``) while a fold trains and is
  scored, so folds of a fan-out (``--fold K`` jobs) run side by side, but never one fold
  twice.

A fold already held makes the second command stop at once with :class:`RunBusyError`
("run directory busy (pid N)"; exit status 2). The kernel drops a lock when its holder exits,
even by SIGKILL, so a crashed run never leaves a stale lock, at worst a lock file nobody
holds. A holder removes its lock file before letting go; a writer that got the lock
on a file removed meanwhile sees that its file is no longer the one at the path and starts
again, so two writers never both hold "the" lock. Only DDP's global rank 0 takes locks.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Iterator

from sertk.fileio import make_parent, naming
from sertk.train.config import ConfigError

RUN_LOCK = ".sertk-run.lock"
_held = threading.local()  # .paths: the lock files this thread holds (re-entry is free)


class RunBusyError(ConfigError):
    """Another process is writing the same run directory (or fold)."""


def fold_lock_path(run_dir: str | Path, fold_name: str) -> Path:
    """The lock file of one fold (``fold-00``, ``final``) of ``run_dir``."""
    return Path(run_dir) / f".sertk-{fold_name}.lock"


@contextlib.contextmanager
def exclusive(path: str | Path, *, wait: bool = False, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder) for the ``with`` body.

    Re-entrant within one thread (``cross_validate`` claims every fold it will train, then
    ``fit`` claims its fold again); other threads and processes are excluded. ``wait``
    blocks until the holder lets go (for brief sections); otherwise another holder raises
    :class:`RunBusyError`, naming the run directory, ``what`` the lock guards and the
    holder's pid.
    """
    path = Path(path)
    held = _held.__dict__.setdefault("paths", set())
    key = os.path.abspath(path)
    if key in held:
        yield
        return
    make_parent(path)  # an error names the lock file, inside the run directory
    fd = _acquire(path, wait=wait, what=what)
    held.add(key)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        held.discard(key)
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: see the module docstring
        os.close(fd)  # closing the last descriptor releases the lock


def _acquire(path: Path, *, wait: bool, what: str) -> int:
    """A descriptor of ``path`` holding its exclusive lock (the file at ``path`` now)."""
    while True:
        with naming(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunBusyError(f"{path.parent}: run directory busy (pid {holder}): "
                               f"{what or path.name} is being written by another process; "
                               "wait for it to finish or use another output directory"
                               ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        os.close(fd)  # the holder removed it as we waited: lock the file there now


def _holder(fd: int) -> str:
    """The pid the holder wrote into the lock file ('?' when it has not written it yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"
