"""A disk that fills up: files written under one folder share a byte budget, then ENOSPC.

Read-only folders do not stop root (CI often runs as root), and a real tiny filesystem needs
privileges. So :class:`FullDisk` wraps ``open`` (``builtins.open`` and ``io.open``, which
``pathlib`` uses): a file opened for writing under ``root`` accepts bytes until the shared
budget is spent, writes the part that fits, and then raises
``OSError(ENOSPC, "No space left on device")`` with no file name, as ``write()`` does on
a full disk. Everything else (reading audio, writing elsewhere) is untouched.

Example:
    >>> disk = FullDisk(tmp_path / "out", budget=1000)       # doctest: +SKIP
    >>> disk.install(monkeypatch)                            # doctest: +SKIP
"""
from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

ENOSPC_TEXT = os.strerror(errno.ENOSPC)  # "No space left on device"


class FullDisk:
    """Files written under ``root`` may hold ``budget`` bytes in all (None: no limit).

    ``written`` lists ``(path, bytes)`` for every write that got through, in order, so a
    first unlimited run tells where later budgets will cut.
    """

    def __init__(self, root: str | os.PathLike, budget: int | None):
        self.root = os.path.abspath(root)
        self.budget = budget
        self.used = 0
        self.written: list[tuple[str, int]] = []
        self.failures = 0
        self._open = builtins.open

    def install(self, monkeypatch) -> "FullDisk":
        monkeypatch.setattr(builtins, "open", self.open)
        monkeypatch.setattr(io, "open", self.open)
        return self

    def open(self, file, mode="r", *args, **kwargs):
        handle = self._open(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        if writing and isinstance(file, (str, bytes, os.PathLike)) and self._under_root(file):
            return _LimitedFile(handle, self, os.fspath(file))
        return handle

    def _under_root(self, file) -> bool:
        path = os.path.abspath(os.fsdecode(os.fspath(file)))
        return path == self.root or path.startswith(self.root + os.sep)

    def take(self, path: str, wanted: int) -> int:
        """How many of ``wanted`` bytes still fit (all, when there is no budget)."""
        if self.budget is None:
            granted = wanted
        else:
            granted = max(0, min(wanted, self.budget - self.used))
        self.used += granted
        if granted:
            self.written.append((path, granted))
        return granted

    def cumulative(self) -> list[tuple[str, int]]:
        """``(path, total bytes written up to and including this write)`` for every write."""
        total, out = 0, []
        for path, n in self.written:
            total += n
            out.append((path, total))
        return out


class _LimitedFile:
    """A file object whose ``write`` stops at the disk's budget with ENOSPC."""

    def __init__(self, handle, disk: FullDisk, path: str):
        self._handle, self._disk, self._path = handle, disk, path

    def write(self, data):
        granted = self._disk.take(self._path, len(data))
        if granted < len(data):
            if granted:
                self._handle.write(data[:granted])
            self._disk.failures += 1
            raise OSError(errno.ENOSPC, ENOSPC_TEXT)
        return self._handle.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()
        return False

    def __iter__(self):
        return iter(self._handle)

    def __getattr__(self, name):
        return getattr(self._handle, name)


def files_under(root: str | os.PathLike) -> list[Path]:
    """Every regular file below ``root``, sorted."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def temporary_files(root: str | os.PathLike) -> list[Path]:
    """Leftover temporary files (``*.tmp``, ``*.tmp-<pid>``, ``*.part``) below ``root``."""
    return [p for p in files_under(root)
            if p.suffix in (".tmp", ".part") or ".tmp-" in p.name or p.name.endswith(".tmp")]
