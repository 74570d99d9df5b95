"""Turning command-line inputs into a list of audio files.

An input is an audio file, a folder (searched recursively for audio extensions,
sorted), or a list file (``.txt``/``.lst``: one path per line; blank lines and
lines starting with ``#`` are skipped; relative paths are relative to the list
file's folder). Paths that do not exist (and broken links found in folders) are
kept, so that the batch reports them as errors instead of silently dropping them.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

AUDIO_EXTENSIONS = frozenset({
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc", ".au",
    ".snd", ".caf", ".w64", ".rf64", ".sph", ".nist", ".voc",
})
LIST_EXTENSIONS = frozenset({".txt", ".lst"})


def expand_input(path: str | Path, *, read_lists: bool = True) -> list[Path]:
    """The audio files one input names (see the module docstring)."""
    path = Path(path).expanduser()
    if path.is_dir():
        # broken links are kept (and reported as missing); folders named *.wav are not files
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS
                      and not p.is_dir())
    if read_lists and path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
        return [f for entry in read_list_file(path) for f in expand_input(entry, read_lists=False)]
    return [path]


def read_list_file(path: str | Path) -> list[Path]:
    """Paths listed one per line, relative ones resolved against the list file's folder."""
    path = Path(path)
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entry = Path(line).expanduser()
            entries.append(entry if entry.is_absolute() else path.parent / entry)
    return entries


def collect_audio_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """All audio files the inputs name, in input order."""
    return [f for item in inputs for f in expand_input(item)]
