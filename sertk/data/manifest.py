"""Corpus manifests: one :class:`Utterance` record per audio file.

Every corpus recipe (``iemocap``, ``emodb``, ``ravdess``, ``folder``) returns a
list of utterances; training, splits and caches read nothing else. A manifest is
saved as CSV (one row per utterance, header = field names) or JSON lines, by the
file's extension.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable

from sertk.fileio import atomic_open, open_text

FIELDS = ("id", "path", "label", "speaker", "session", "gender", "duration", "corpus")


class ManifestError(ValueError):
    """A manifest that cannot be used: the message names the file/row and the reason."""


@dataclass(frozen=True)
class Utterance:
    """One labelled audio file.

    ``speaker`` and ``session`` drive the speaker- and session-independent
    protocols; ``gender`` is ``"F"``, ``"M"`` or ``""`` when unknown;
    ``duration`` is in seconds (0.0 when unknown).
    """

    id: str
    path: str
    label: str
    speaker: str = ""
    session: str = ""
    gender: str = ""
    duration: float = 0.0
    corpus: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

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
        return cls(**{k: (v if k == "duration" else str(v)) for k, v in values.items()})


def check_unique_ids(utterances: Iterable[Utterance]) -> None:
    """Raise :class:`ManifestError` naming every id that occurs more than once."""
    counts = Counter(u.id for u in utterances)
    dupes = sorted(i for i, n in counts.items() if n > 1)
    if dupes:
        shown = ", ".join(dupes[:10]) + (" ..." if len(dupes) > 10 else "")
        raise ManifestError(f"duplicate utterance ids ({len(dupes)}): {shown}")


def write_manifest(utterances: Iterable[Utterance], path: str | Path) -> Path:
    """Write utterances as CSV (default) or JSON lines (``.jsonl``). Returns the path.

    Raises:
        OSError: naming ``path``; no partial manifest is left under that name.
    """
    path = Path(path)
    rows = [u.to_dict() for u in utterances]
    with atomic_open(path, newline="") as fh:  # whole or not at all, even on a full disk
        if path.suffix == ".jsonl":
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    return path


def read_manifest(path: str | Path) -> list[Utterance]:
    """Read a manifest written by :func:`write_manifest`; ids must be unique.

    Raises:
        ManifestError: naming the file (and line) for a missing or unreadable file, a row
            without id, path or label, no rows, or duplicate ids.
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
    try:
        check_unique_ids(utterances)
    except ManifestError as err:
        raise ManifestError(f"{path}: {err}") from None
    return utterances


def _json_row(path: Path, number: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}:{number}: not valid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ManifestError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def label_names(utterances: Iterable[Utterance]) -> list[str]:
    """Sorted distinct labels: the class order used by models trained on them."""
    return sorted({u.label for u in utterances})
