"""IEMOCAP: the Interactive Emotional Dyadic Motion Capture database, 4-class (SPEC section 6).

Busso et al., Language Resources and Evaluation 2008. Ten actors in five sessions, one
woman and one man per session, improvise or act scripts in dyadic dialogs; about 12 h,
segmented into utterances, 16 kHz. Obtain it from USC SAIL
(https://sail.usc.edu/iemocap/, release form; redistribution is not allowed).

Layout of ``IEMOCAP_full_release/`` (``root`` may be that folder or its parent)::

    SessionN/dialog/EmoEvaluation/<dialog>.txt      labels, one file per dialog
    SessionN/dialog/EmoEvaluation/{Attribute,Categorical,Self-evaluation}/
                                                    per-evaluator files: not read
    SessionN/dialog/transcriptions/<dialog>.txt     text: not read
    SessionN/sentences/wav/<dialog>/<utterance>.wav the utterance audio

A label file is latin-1 text: a header line
``% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]``, then per utterance a line
``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``
followed by the evaluators' own lines (``C-E2:``, ``A-F1:`` ...), which are ignored:
the line's consensus label is the one used, and its ``[V, A, D]`` triple (the evaluators'
mean valence, activation and dominance, 1-5) fills the utterance's ``valence``,
``arousal`` and ``dominance``; a triple that is not three numbers makes a bad line.
Dot-files (macOS ``._*.txt`` forks) are not label files and are counted in ``.excluded``.

Labels: ``neu hap exc ang sad fru sur fea dis oth xxx`` (``xxx`` = no agreement). The
paper's 4-class set keeps ``neu``, ``hap``+``exc`` (as happy), ``ang``, ``sad``
(:data:`FOUR_CLASS`): 5531 utterances, neutral 1708, happy 1636 (hap 595 + exc 1041),
angry 1103, sad 1084. The other labels are left out and counted in ``.excluded``
(``"label xxx"`` ...); a label outside the eleven is a bad line.

Ids: ``Ses01F_impro01_M013`` is session 1 (``Ses01``; the ``F`` there says who wore the
motion-capture markers), dialog ``Ses01F_impro01``, spoken by the session's man (the
``M`` of the last part). So ``session`` = ``Session1``, ``speaker`` = ``Ses01M``,
``gender`` = ``M``. Scripted dialogs (``Ses01F_script01_1``) are kept like improvised ones.
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping

from sertk.data.manifest import Utterance
from sertk.data.validate import Candidate, CorpusError, PreparedCorpus, Skipped, finish, is_hidden
from sertk.fileio import read_text

CORPUS = "iemocap"
SESSIONS = (1, 2, 3, 4, 5)
LABELS = ("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth", "xxx")
FOUR_CLASS = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
ENCODING = "latin-1"
_LINE = re.compile(  # [start - end] id label [v, a, d]
    r"^\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\s+(\S+)\s+(\S+)\s+\[([^\]]*)\]\s*$")
_ID = re.compile(r"^Ses(?P<session>\d\d)[FM]_.+_(?P<gender>[FM])[^_]*$")


def prepare_iemocap(root: str | Path, *, labels: Mapping[str, str] = FOUR_CLASS,
                    sessions: Iterable[int] = SESSIONS, skip_bad: bool = False,
                    decode: bool = True) -> PreparedCorpus:
    """Read IEMOCAP's labelled utterances under ``root``, sorted by id.

    Args:
        labels: IEMOCAP label -> class name; utterances with other labels are counted in
            ``.excluded``. The default is the paper's 4-class set.
        sessions: session numbers to read.

    Raises:
        CorpusError: a session folder is missing, or (without ``skip_bad``) a label line
            or audio file is bad; the message names the file (and line) and the reason.
    """
    root = _release_root(Path(root))
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise CorpusError(None, f"unknown IEMOCAP label(s) {', '.join(unknown)} in the label map")
    candidates, bad, excluded = [], [], Counter()
    for number in sessions:
        folder = root / f"Session{number}" / "dialog" / "EmoEvaluation"
        if not folder.is_dir():
            raise CorpusError(folder, f"IEMOCAP Session{number} labels not found")
        for label_file in sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file()):
            if is_hidden(label_file):
                excluded["hidden file"] += 1
                continue
            for where, utt_id, label, vad in read_label_file(label_file):
                try:
                    utt = _utterance(root, number, utt_id, label, labels, vad)
                except ValueError as err:
                    bad.append(Skipped(where, str(err)))
                    continue
                if utt is None:
                    excluded[f"label {label}"] += 1
                else:
                    candidates.append(Candidate(utt, where))
    return finish(CORPUS, candidates, bad, excluded, skip_bad=skip_bad, decode=decode)


def read_label_file(path: Path) -> list[tuple[str, str, str, str]]:
    """The utterance lines of one EmoEvaluation file as ``(file:line, id, label, vad)``,
    ``vad`` the text inside the line's ``[V, A, D]`` brackets; other lines are skipped. A line
    that starts with ``[`` but does not parse yields id and label ``""`` (a bad line)."""
    rows = []
    text = read_text(path, encoding=ENCODING)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("["):
            continue
        match = _LINE.match(line)
        where = f"{path}:{number}"
        rows.append((where, match[3], match[4], match[5]) if match else (where, "", "", ""))
    return rows


def _utterance(root: Path, session: int, utt_id: str, label: str,
               labels: Mapping[str, str], vad: str = "") -> Utterance | None:
    """The record of one label line; None if its label is left out; ValueError if bad."""
    if not utt_id:
        raise ValueError("line does not parse as [start - end] <id> <label> [v, a, d]")
    match = _ID.match(utt_id)
    if not match:
        raise ValueError(f"id {utt_id!r} does not look like SesNN[FM]_<dialog>_[FM]NNN")
    if int(match["session"]) != session:
        raise ValueError(f"id {utt_id!r} belongs to session {int(match['session'])}, "
                         f"found in Session{session}")
    if label not in LABELS:
        raise ValueError(f"{utt_id}: unknown IEMOCAP label {label!r}")
    if label not in labels:
        return None
    valence, arousal, dominance = _ratings(utt_id, vad)
    dialog = utt_id.rsplit("_", 1)[0]
    wav = root / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt_id}.wav"
    gender = match["gender"]
    return Utterance(id=utt_id, path=os.path.abspath(wav), label=labels[label],
                     speaker=f"Ses{match['session']}{gender}", session=f"Session{session}",
                     gender=gender, corpus=CORPUS, arousal=arousal, valence=valence,
                     dominance=dominance)


def _ratings(utt_id: str, vad: str) -> tuple[float, float, float]:
    """The ``V, A, D`` text of a label line as three finite numbers; ValueError if not."""
    try:
        values = [float(x) for x in vad.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{utt_id}: [V, A, D] [{vad}] is not three numbers")
    return values[0], values[1], values[2]


def _release_root(root: Path) -> Path:
    """``root`` itself, or its ``IEMOCAP_full_release`` sub-folder when that holds the sessions."""
    if not root.is_dir():
        raise CorpusError(root, "IEMOCAP folder not found")
    inner = root / "IEMOCAP_full_release"
    if not (root / "Session1").is_dir() and inner.is_dir():
        return inner
    return root
