"""Run a corpus recipe by name, write its manifest, and summarise what it holds.

``sertk prepare`` wraps :func:`prepare_corpus`. Each recipe in :data:`PREPARERS` takes
``(root, *, skip_bad=False, decode=True, ...)`` and returns a
:class:`~sertk.data.validate.PreparedCorpus`; files left out with ``skip_bad`` are listed
beside the manifest, in ``<manifest stem>.skipped.csv`` (``path,reason``).

Example:
    >>> prepared = prepare_corpus("emodb", "emodb/", "emodb.csv")  # doctest: +SKIP
    >>> print(count_table(prepared))  # doctest: +SKIP
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from sertk.data.emodb import prepare_emodb
from sertk.data.folder import prepare_csv, prepare_folder
from sertk.data.iemocap import prepare_iemocap
from sertk.data.manifest import Utterance, label_names, write_manifest
from sertk.data.ravdess import prepare_ravdess
from sertk.data.validate import CorpusError, PreparedCorpus, Skipped
from sertk.fileio import atomic_open, check_writable_folder
from sertk.tables import text_table

PREPARERS: dict[str, Callable[..., PreparedCorpus]] = {
    "iemocap": prepare_iemocap,
    "emodb": prepare_emodb,
    "ravdess": prepare_ravdess,
    "folder": prepare_folder,
    "csv": prepare_csv,
}


def prepare_corpus(corpus: str, root: str | Path, output: str | Path, **options) -> PreparedCorpus:
    """Prepare ``root`` with the recipe named ``corpus`` (given ``options``) and write the
    manifest to ``output`` (CSV, or JSON lines for ``.jsonl``).

    Raises:
        CorpusError: unknown corpus, a bad file (without ``skip_bad``), or no usable
            utterance at all (then no manifest is written).
        OSError: ``output`` cannot be written (naming it); a manifest is never left
            half-written.
    """
    if corpus not in PREPARERS:
        raise CorpusError(None, f"unknown corpus {corpus!r}; choose from {', '.join(PREPARERS)}")
    check_writable_folder(output)  # before checking every file, not after
    prepared = PREPARERS[corpus](root, **options)
    listing = skipped_path(output)
    if prepared.skipped:
        write_skipped(prepared.skipped, listing)
    elif listing.exists():  # a stale list from an earlier run would mislead
        listing.unlink()
    if not prepared:
        where = f", listed in {listing}" if prepared.skipped else ""
        raise CorpusError(root, f"no usable utterances ({len(prepared.skipped)} bad files "
                                f"skipped{where})")
    write_manifest(prepared, output)
    return prepared


def skipped_path(output: str | Path) -> Path:
    """Where the skipped-file list of the manifest ``output`` goes."""
    output = Path(output)
    return output.with_name(f"{output.stem}.skipped.csv")


def write_skipped(skipped: Iterable[Skipped], path: str | Path) -> Path:
    """Write ``path,reason`` rows; returns the path."""
    path = Path(path)
    with atomic_open(path, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(Skipped._fields)
        writer.writerows(skipped)
    return path


def count_table(utterances: Iterable[Utterance]) -> str:
    """Utterances per speaker (rows) and class (columns), with totals, as aligned text."""
    utterances = list(utterances)
    classes = label_names(utterances)
    counts = Counter((u.speaker or "(none)", u.label) for u in utterances)
    speakers = sorted({s for s, _ in counts})
    rows = [["speaker", *classes, "total"]]
    for speaker in speakers:
        cells = [counts[speaker, c] for c in classes]
        rows.append([speaker, *map(str, cells), str(sum(cells))])
    totals = [sum(counts[s, c] for s in speakers) for c in classes]
    rows.append(["total", *map(str, totals), str(sum(totals))])
    return text_table(rows, right=range(1, len(rows[0])))
