"""Your own data: a folder of label sub-folders, or a CSV list of files and labels.

Two layouts, for corpora without a recipe of their own:

- **Folder** (:func:`prepare_folder`): ``root/<label>/**/<name>.<ext>``. The first folder
  level is the label; deeper folders are free (speakers, sessions, anything). ``<ext>`` is
  any format libsndfile reads (wav, flac, ogg, aiff, mp3 with libsndfile >= 1.1, ...;
  :data:`AUDIO_EXTENSIONS`). The id is the path below ``root`` without its extension
  (``angry/spk1/001``); speaker, session and gender are unknown (empty), so only the
  random ``kfold`` protocol applies. Use a CSV for speaker-independent protocols.
- **CSV** (:func:`prepare_csv`): a header row with at least ``path`` and ``label``, and
  optionally ``speaker``, ``session``, ``gender`` (F/M), ``id`` and the numeric ratings
  ``arousal``, ``valence``, ``dominance`` (empty cell: not rated). Relative paths are
  resolved against the CSV's folder. Without an ``id`` column the id is the path as
  written, without its extension. A manifest written by ``sertk prepare`` is such a CSV.

Labels (folder names, the ``label`` column, the allowed set) are normalised by
:mod:`sertk.data.labels`: labels that differ only by case or whitespace (``Angry/`` and
``angry/``) are refused, naming where each spelling occurs; spellings merged by the
normalisation (``"anger "`` -> ``"anger"``) are logged as a notice.

``labels`` (optional) is the allowed label set: any other label is a bad file. Dot-files,
and files with other extensions in a folder, are counted in ``.excluded``; an audio file
directly under ``root`` (no label folder) is a bad file.
"""
from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Iterable

from sertk.audio import AUDIO_EXTENSIONS
from sertk.data.labels import LabelConflict, check_label_spellings, normalise_label
from sertk.data.manifest import Utterance, read_dimensions
from sertk.data.validate import Candidate, CorpusError, PreparedCorpus, Skipped, finish
from sertk.fileio import open_text

CSV_COLUMNS = ("path", "label")

log = logging.getLogger(__name__)


def prepare_folder(root: str | Path, *, labels: Iterable[str] | None = None,
                   corpus: str = "folder", skip_bad: bool = False,
                   decode: bool = True) -> PreparedCorpus:
    """Read ``root/<label>/**/*.<audio ext>``; see the module docstring.

    Raises:
        CorpusError: ``root`` is missing, holds no audio files, or (without ``skip_bad``)
            a file is bad; the message names the file and the reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "folder not found")
    allowed = _allowed(labels)
    candidates, bad, excluded, spellings = [], [], Counter(), []
    for path in sorted(p for p in root.rglob("*") if not p.is_dir()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            excluded["hidden file"] += 1
        elif path.suffix.lower() not in AUDIO_EXTENSIONS:
            excluded[f"not an audio file ({path.suffix or 'no extension'})"] += 1
        elif len(rel.parts) == 1:
            bad.append(Skipped(os.path.abspath(path), "audio file directly under the root "
                                                      "folder: put it in a <label>/ folder"))
        else:
            utt = Utterance(id=rel.with_suffix("").as_posix(), path=os.path.abspath(path),
                            label=rel.parts[0], corpus=corpus)
            spellings.append((f"{root / rel.parts[0]}/", rel.parts[0]))
            _add(utt, utt.path, allowed, candidates, bad)
    if not candidates and not bad:
        raise CorpusError(root, "no audio files found in <label>/ folders")
    _check_spellings(root, dict.fromkeys(spellings))  # each folder once
    return finish(corpus, candidates, bad, excluded, skip_bad=skip_bad, decode=decode)


def prepare_csv(csv_path: str | Path, *, labels: Iterable[str] | None = None,
                corpus: str = "csv", skip_bad: bool = False,
                decode: bool = True) -> PreparedCorpus:
    """Read the files listed in ``csv_path``; see the module docstring.

    Raises:
        CorpusError: the CSV is missing, lacks a ``path`` or ``label`` column, has no
            rows, or (without ``skip_bad``) a row or file is bad.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CorpusError(csv_path, "CSV file not found")
    allowed = _allowed(labels)
    base = csv_path.parent
    candidates, bad, spellings = [], [], []
    with open_text(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in CSV_COLUMNS if c not in columns]
        if missing:
            raise CorpusError(csv_path, f"missing column(s) {', '.join(missing)} "
                                        f"(found: {', '.join(columns) or 'none'})")
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()
                   if isinstance(v, str) or v is None}
            where = f"{csv_path}:{line}"
            label_column = next((v for k, v in raw.items() if (k or "").strip() == "label"), "")
            if row.get("label"):
                spellings.append((where, label_column))
            try:
                utt = _row_utterance(row, base, corpus)
            except ValueError as err:
                bad.append(Skipped(where, str(err)))
                continue
            _add(utt, where, allowed, candidates, bad)
    if not candidates and not bad:
        raise CorpusError(csv_path, "CSV has no rows")
    _check_spellings(csv_path, spellings)
    return finish(corpus, candidates, bad, skip_bad=skip_bad, decode=decode)


def _row_utterance(row: dict[str, str], base: Path, corpus: str) -> Utterance:
    for column in CSV_COLUMNS:
        if not row.get(column):
            raise ValueError(f"row has no {column}")
    written = Path(row["path"])
    path = written if written.is_absolute() else base / written
    gender = row.get("gender", "").upper()
    if gender not in ("", "F", "M"):
        raise ValueError(f"gender {row['gender']!r} is not F, M or empty")
    return Utterance(id=row.get("id") or written.with_suffix("").as_posix(),
                     path=os.path.abspath(path), label=row["label"],
                     speaker=row.get("speaker", ""), session=row.get("session", ""),
                     gender=gender, corpus=corpus, **read_dimensions(row))


def _check_spellings(source: Path, spellings: Iterable[tuple[str, str]]) -> None:
    """Refuse labels that differ only by case or whitespace; log labels merged by
    normalisation (:func:`sertk.data.labels.check_label_spellings`)."""
    try:
        notice = check_label_spellings(spellings)
    except LabelConflict as err:
        raise CorpusError(source, str(err)) from None
    if notice:
        log.warning("%s: %s", source, notice)


def _allowed(labels: Iterable[str] | None) -> frozenset[str] | None:
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    try:
        check_label_spellings(("the allowed labels", label) for label in labels)
    except LabelConflict as err:
        raise CorpusError(None, str(err)) from None
    allowed = frozenset(normalise_label(label) for label in labels) - {""}
    if not allowed:
        raise CorpusError(None, "the allowed label set is empty")
    return allowed


def _add(utt: Utterance, origin: str, allowed: frozenset[str] | None,
         candidates: list[Candidate], bad: list[Skipped]) -> None:
    """Keep ``utt`` as a candidate, or record it as bad if its label is not allowed."""
    if allowed is not None and utt.label not in allowed:
        bad.append(Skipped(utt.path, f"label {utt.label!r} is not one of "
                                     f"{', '.join(sorted(allowed))}"))
    else:
        candidates.append(Candidate(utt, origin))
