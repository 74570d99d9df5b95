"""Corpus manifests: one :class:`Utterance` record per audio file.

Every corpus recipe returns a list of utterances; training, splits and caches read nothing
else. A manifest is saved as CSV (one row per utterance, header = field names) or JSON lines,
by the file's extension.

Reading a manifest (:func:`read_manifest`) checks what training would otherwise get wrong
quietly: labels are normalised (:mod:`sertk.data.labels`; labels that differ only by case
or whitespace are refused), relative audio paths are resolved against the manifest's folder,
and two rows naming the same audio file (``a.wav`` and ``sub/../a.wav``, a symbolic or hard
link) are refused, naming both rows, as are duplicate ids.

Dimensional ratings are optional numeric columns, :data:`DIMENSIONS` (on the corpus's own
scale, e.g. IEMOCAP's 1-5): a manifest may have some, all or none of them, and a row may
leave a cell empty (no rating). A value that is not a finite number is refused, naming the
row and the column.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterable, Sequence

from sertk.data.labels import LabelConflict, check_label_spellings, normalise_label
from sertk.fileio import atomic_open, open_text

log = logging.getLogger(__name__)

FIELDS = ("id", "path", "label", "speaker", "session", "gender", "duration", "corpus")
#: Optional numeric columns: dimensional emotion ratings (None = not rated).
DIMENSIONS = ("arousal", "valence", "dominance")


class ManifestError(ValueError):
    """A manifest that cannot be used: the message names the file/row and the reason."""


@dataclass(frozen=True)
class Utterance:
    """One labelled audio file. ``speaker`` and ``session`` drive the speaker- and
    session-independent protocols; ``gender`` is ``"F"``, ``"M"`` or ``""`` (unknown);
    ``duration`` is in seconds (0.0: unknown); the :data:`DIMENSIONS` are ratings on the
    corpus's scale, None when not rated."""

    id: str
    path: str
    label: str
    speaker: str = ""
    session: str = ""
    gender: str = ""
    duration: float = 0.0
    corpus: str = ""
    arousal: float | None = None
    valence: float | None = None
    dominance: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "label", normalise_label(self.label))  # sertk.data.labels

    def to_dict(self) -> dict:
        """The fields, without dimensions that are not rated."""
        return {k: v for k, v in asdict(self).items() if not (k in DIMENSIONS and v is None)}

    def dimension_values(self, names) -> list[float | None]:
        """The ratings ``names`` (a subset of :data:`DIMENSIONS`), None where not rated."""
        return [getattr(self, name) for name in names]

    @classmethod
    def from_dict(cls, row: dict, where: str = "") -> "Utterance":
        missing = [k for k in ("id", "path", "label") if not str(row.get(k) or "").strip()]
        if missing:
            raise ManifestError(f"{where}: missing {', '.join(missing)}")
        values = {f.name: row.get(f.name) for f in fields(cls) if row.get(f.name) is not None}
        try:
            values["duration"] = float(values.get("duration") or 0.0)
        except ValueError:
            raise ManifestError(f"{where}: duration {row.get('duration')!r} is not a number") from None
        values.update(read_dimensions(row, where))
        return cls(**{k: (v if k == "duration" or k in DIMENSIONS else str(v))
                      for k, v in values.items()})


def read_dimensions(row: dict, where: str = "") -> dict[str, float | None]:
    """The :data:`DIMENSIONS` cells of a manifest or CSV row as floats (None: empty or
    absent); else :class:`ManifestError`, ``<where>: arousal 'high' is not a finite number``
    (NaN, infinity, text or a boolean are refused)."""
    out = {}
    for name in DIMENSIONS:
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            out[name] = None
            continue
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
        except (TypeError, ValueError):
            prefix = f"{where}: " if where else ""
            raise ManifestError(f"{prefix}{name} {value!r} is not a finite number") from None
        out[name] = number
    return out


def check_dimensions(utterances: Iterable[Utterance], names: Iterable[str]) -> None:
    """Raise :class:`ManifestError` unless every utterance is rated on every dimension of
    ``names``; the message names the missing column(s) and up to five unrated ids."""
    utterances, names = list(utterances), list(names)
    for name in names:
        if name not in DIMENSIONS:
            raise ManifestError(f"unknown dimension {name!r}; known: {', '.join(DIMENSIONS)}")
        unrated = [u.id for u in utterances if getattr(u, name) is None]
        if len(unrated) == len(utterances):
            raise ManifestError(f"the manifest has no {name} column (dimensions need "
                                f"{', '.join(names)} ratings on every utterance)")
        if unrated:
            raise ManifestError(f"{len(unrated)} utterance(s) have no {name} rating: "
                                f"{listed(unrated, 5)}")


def same_file_groups(located: Iterable[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The groups (in input order) of two or more ``(where, path)`` entries (absolute paths,
    or relative to the working folder) that name one audio file, however written: the same
    ``os.path.realpath`` (``a.wav``, ``./sub/../a.wav``, a symbolic link), or, for files that
    exist, the same device and inode (a hard link)."""
    located = list(located)
    parent = list(range(len(located)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple, int] = {}
    for i, (_, path) in enumerate(located):
        keys = [("path", os.path.realpath(path))]
        try:
            stat = os.stat(path)
            keys.append(("inode", stat.st_dev, stat.st_ino))
        except OSError:
            pass  # missing files are reported later, by the audio checks
        for key in keys:
            j = first.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[tuple[str, str]]] = {}
    for i, entry in enumerate(located):
        groups.setdefault(root(i), []).append(entry)
    return [g for g in groups.values() if len(g) > 1]


def check_unique_files(located: Iterable[tuple[str, str]]) -> None:
    """Raise :class:`ManifestError` naming the entries of every audio file listed twice
    (``(where, path)`` pairs; see :func:`same_file_groups`)."""
    groups = same_file_groups(located)
    if groups:
        shown = "; ".join(" and ".join(f"{where} ({path})" for where, path in group)
                          for group in groups[:5]) + (" ..." if len(groups) > 5 else "")
        raise ManifestError(f"the same audio file is listed more than once ({len(groups)} "
                            f"file(s)): {shown}; keep one row per file")


def check_unique_ids(utterances: Iterable[Utterance]) -> None:
    """Raise :class:`ManifestError` naming every id that occurs more than once."""
    counts = Counter(u.id for u in utterances)
    dupes = sorted(i for i, n in counts.items() if n > 1)
    if dupes:
        raise ManifestError(f"duplicate utterance ids ({len(dupes)}): {listed(dupes)}")


def listed(items: Sequence[str], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, then `` ...`` if there are more."""
    return ", ".join(map(str, items[:limit])) + (" ..." if len(items) > limit else "")


def write_manifest(utterances: Iterable[Utterance], path: str | Path) -> Path:
    """Write utterances as CSV (default) or JSON lines (``.jsonl``); returns the path. A
    dimension column is written when some utterance is rated on it (empty cells, or no key
    in JSON, for the others). An OSError names ``path`` and leaves no partial manifest."""
    path = Path(path)
    rows = [u.to_dict() for u in utterances]
    rated = [name for name in DIMENSIONS if any(name in row for row in rows)]
    with atomic_open(path, newline="") as fh:  # whole or not at all, even on a full disk
        if path.suffix == ".jsonl":
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(fh, fieldnames=FIELDS + tuple(rated))
            writer.writeheader()
            writer.writerows(rows)
    return path


def read_manifest(path: str | Path) -> list[Utterance]:
    """Read a manifest written by :func:`write_manifest` (or by hand; a byte-order mark is
    fine). Labels are normalised (a notice is logged when that merged spellings), relative
    audio paths are taken relative to the manifest's folder and made absolute.

    Raises:
        ManifestError: naming the file (and line): a missing or unreadable file, a row
            without id, path or label, no rows, labels that differ only by case or
            whitespace, two rows naming the same audio file, or duplicate ids.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    try:
        with open_text(path, newline="") as fh:
            if path.suffix == ".jsonl":  # (line number, row)
                rows = [(n, _json_row(path, n, line)) for n, line in enumerate(fh, 1)
                        if line.strip()]
            else:
                rows = list(enumerate(csv.DictReader(fh), 2))
    except UnicodeDecodeError as err:
        raise ManifestError(f"{path}: not a UTF-8 text manifest ({err.reason} at byte "
                            f"{err.start})") from None
    except csv.Error as err:
        raise ManifestError(f"{path}: not a readable CSV manifest ({err})") from None
    utterances = [Utterance.from_dict(r, where=f"{path}:{n}") for n, r in rows]
    if not utterances:
        raise ManifestError(f"{path}: manifest has no utterances")
    rows_named = [f"{path}:{n}" for n, _ in rows]
    try:
        notice = check_label_spellings(zip(rows_named, (str(r["label"]) for _, r in rows)))
    except LabelConflict as err:
        raise ManifestError(f"{path}: {err}") from None
    if notice:
        log.warning("%s: %s", path, notice)
    base = path.parent
    utterances = [replace(u, path=_absolute(u.path, base)) for u in utterances]
    try:
        check_unique_files(zip(rows_named, (u.path for u in utterances)))
        check_unique_ids(utterances)
    except ManifestError as err:
        raise ManifestError(f"{path}: {err}") from None
    return utterances


def _absolute(audio: str, base: Path) -> str:
    """``audio`` as an absolute, normalised path; a relative one is relative to ``base``."""
    return os.path.abspath(os.path.join(base, audio))


def _json_row(path: Path, number: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}:{number}: not valid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ManifestError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def label_names(utterances: Iterable[Utterance]) -> list[str]:
    """Sorted distinct labels: the class order used by models trained on them.
    :class:`ManifestError` (naming utterance ids) for two labels that differ only by case or
    whitespace, as they would silently become two classes."""
    utterances = list(utterances)
    try:
        check_label_spellings((f"id {u.id!r}", u.label) for u in utterances)
    except LabelConflict as err:
        raise ManifestError(str(err)) from None
    return sorted({u.label for u in utterances})
