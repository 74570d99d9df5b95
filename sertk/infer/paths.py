"""Turning command-line inputs into a list of audio files.

An input is an audio file, a folder, or a list file (``.txt``/``.lst``: one path per
line; blank lines and lines starting with ``#`` are skipped; relative paths are
relative to the list file's folder).

Which files of a folder are predicted (searched recursively, sorted):

- every file whose extension is a known audio or video extension
  (:data:`MEDIA_EXTENSIONS`), whether or not the installed libsndfile decodes it:
  one it cannot decode (``.m4a``, ``.wma``, ...) gets an error row saying so;
- other files, hidden files and folders (names starting with ``.``, such as
  macOS ``._clip.wav`` resource forks) and links to folders (not followed) are
  left out and listed in :attr:`Listing.left_out`, which the command line reports
  in a one-line notice.

Nothing is dropped without a word: paths that do not exist, broken links found in
folders, folders that cannot be listed, list files that cannot be read and names
the operating system refuses (say, longer than 255 bytes) are kept as entries, and
the batch reports each as that file's error.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sertk.audio import MEDIA_EXTENSIONS, os_reason
from sertk.fileio import read_text

LIST_EXTENSIONS = frozenset({".txt", ".lst"})


@dataclass(frozen=True)
class Entry:
    """A file to predict, or a path that failed before reading (``error`` says why)."""

    path: Path
    error: str | None = None


@dataclass
class Listing:
    """What some inputs name: entries in order, and the folder files left out."""

    entries: list[Entry] = field(default_factory=list)
    left_out: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [e.path for e in self.entries]

    @property
    def readable(self) -> list[Path]:
        """The paths of the entries that did not fail before reading."""
        return [e.path for e in self.entries if e.error is None]

    def results(self, done: Iterable, failed: Callable) -> list:
        """One result per entry, in order: the next of ``done`` (the results of
        :attr:`readable`, in order), or ``failed(path, error=reason)`` for a failed entry."""
        done = iter(done)
        return [next(done) if e.error is None else failed(str(e.path), error=e.error)
                for e in self.entries]

    def extend(self, other: "Listing") -> None:
        self.entries.extend(other.entries)
        self.left_out.extend(other.left_out)


def list_input(path: str | Path, *, read_lists: bool = True) -> Listing:
    """The files one input names (see the module docstring); never raises ``OSError``."""
    path = Path(path).expanduser()
    try:
        is_dir = path.is_dir()
        is_list = read_lists and path.suffix.lower() in LIST_EXTENSIONS and path.is_file()
    except OSError as err:  # e.g. a name longer than the filesystem allows
        return Listing([Entry(path, f"cannot open ({os_reason(err)})")])
    if is_dir:
        return _list_folder(path)
    if is_list:
        try:
            entries = read_list_file(path)
        except OSError as err:
            return Listing([Entry(path, f"cannot read list file ({os_reason(err)})")])
        listing = Listing()
        for entry in entries:
            listing.extend(list_input(entry, read_lists=False))
        return listing
    return Listing([Entry(path)])


def list_inputs(inputs: Iterable[str | Path]) -> Listing:
    """Every input's :func:`list_input`, in input order."""
    listing = Listing()
    for item in inputs:
        listing.extend(list_input(item))
    return listing


def collect_audio_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """All files the inputs name, in input order (a failed entry is read, and reported,
    like any other path)."""
    return list_inputs(inputs).paths


def read_list_file(path: str | Path) -> list[Path]:
    """Paths listed one per line, relative ones resolved against the list file's folder."""
    path = Path(path)
    lines = (line.strip() for line in read_text(path, errors="replace").splitlines())
    entries = [Path(line).expanduser() for line in lines if line and not line.startswith("#")]
    return [entry if entry.is_absolute() else path.parent / entry for entry in entries]


def _list_folder(folder: Path) -> Listing:
    entries: list[Entry] = []
    left_out: list[Path] = []

    def unreadable(err: OSError) -> None:
        where = Path(err.filename) if err.filename is not None else folder
        entries.append(Entry(where, f"cannot list folder ({os_reason(err)})"))

    for root, dirs, files in os.walk(folder, onerror=unreadable):  # links to folders: not followed
        skipped = [d for d in dirs if d.startswith(".") or os.path.islink(os.path.join(root, d))]
        left_out.extend(Path(root, d) for d in skipped)  # hidden folders, links to folders
        dirs[:] = [d for d in dirs if d not in skipped]
        for name in files:  # broken links are kept: reported as missing
            path = Path(root, name)
            if name.startswith(".") or path.suffix.lower() not in MEDIA_EXTENSIONS:
                left_out.append(path)
            else:
                entries.append(Entry(path))
    return Listing(sorted(entries, key=lambda e: e.path), sorted(left_out))
