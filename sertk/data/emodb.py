"""EmoDB: the Berlin Database of Emotional Speech.

Burkhardt et al., "A Database of German Emotional Speech", Interspeech 2005. Ten actors
(5 female, 5 male) speak ten everyday German sentences in seven emotions: 535 utterances
in the release, 16 kHz mono. Free for research use from http://emodb.bilderbar.info
(download ``download.zip``; cite the paper).

Layout: the release unpacks to ``wav/`` (the audio) beside ``lablaut/``, ``labsilb/``,
``silb/`` and ``erkennung.txt``. :func:`prepare_emodb` accepts that root (it reads
``root/wav/*.wav``) or any flat folder of the wav files (``root/*.wav``).

Everything is in the file name, ``SSTTTEV.wav``:

- ``SS``: speaker, one of 03 08 09 10 11 12 13 14 15 16 (female: 08 09 13 14 16);
- ``TTT``: text id (``a01`` .. ``a07``, ``b01`` .. ``b10``);
- ``E``: emotion, the German initial: W Ärger (anger), L Langeweile (boredom),
  E Ekel (disgust), A Angst (fear), F Freude (happiness), T Trauer (sadness), N neutral;
- ``V``: version letter (``a``, ``b``, ...) when a sentence was recorded more than once.

Quirks: there are no sessions, so ``session`` = ``speaker`` (leave-one-speaker-out is the
usual protocol); not every speaker has every emotion. Dot-files and non-wav files in the
folder are counted in ``.excluded``; a ``.wav`` whose name breaks the convention, has an
unknown emotion letter or an unknown speaker is a bad file.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from sertk.data.manifest import Utterance
from sertk.data.validate import Candidate, CorpusError, PreparedCorpus, Skipped, finish, is_hidden

CORPUS = "emodb"
EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
            "T": "sadness", "N": "neutral"}
SPEAKER_GENDER = {
    "03": "M", "08": "F", "09": "F", "10": "M", "11": "M",
    "12": "M", "13": "F", "14": "F", "15": "M", "16": "F",
}
_NAME = re.compile(
    r"^(?P<speaker>\d\d)(?P<text>[a-z]\d\d)(?P<emotion>[A-Za-z])(?P<version>[a-z])$")


def prepare_emodb(root: str | Path, *, skip_bad: bool = False, decode: bool = True) -> PreparedCorpus:
    """Read EmoDB under ``root`` (``root/wav/*.wav`` or ``root/*.wav``): the utterances sorted
    by id (the file stem, e.g. ``03a01Fa``), labels from :data:`EMOTIONS`, ``speaker`` =
    ``session`` = ``SS``.

    Raises:
        CorpusError: ``root`` is missing, holds no wav files, or (without ``skip_bad``)
            a file is bad; the message names the file and the reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "EmoDB folder not found")
    folder = root / "wav" if (root / "wav").is_dir() else root
    candidates, bad, excluded = [], [], Counter()
    for path in sorted(p for p in folder.iterdir() if not p.is_dir()):
        if is_hidden(path):
            excluded["hidden file"] += 1
        elif path.suffix.lower() != ".wav":
            excluded["not a .wav file"] += 1
        else:
            try:
                candidates.append(Candidate(_utterance(path)))
            except ValueError as err:
                bad.append(Skipped(os.path.abspath(path), str(err)))
    if not candidates and not bad:
        raise CorpusError(folder, "no EmoDB .wav files found")
    return finish(CORPUS, candidates, bad, excluded, skip_bad=skip_bad, decode=decode)


def _utterance(path: Path) -> Utterance:
    """The record for one file, from its name alone; ValueError if the name is bad."""
    match = _NAME.match(path.stem)
    if not match:
        raise ValueError("file name does not follow EmoDB's SSTTTEV.wav convention")
    speaker, letter = match["speaker"], match["emotion"]
    if letter not in EMOTIONS:
        raise ValueError(f"unknown EmoDB emotion letter {letter!r} "
                         f"(expected one of {''.join(EMOTIONS)})")
    if speaker not in SPEAKER_GENDER:
        raise ValueError(f"unknown EmoDB speaker {speaker!r}")
    return Utterance(id=path.stem, path=os.path.abspath(path), label=EMOTIONS[letter],
                     speaker=speaker, session=speaker, gender=SPEAKER_GENDER[speaker],
                     corpus=CORPUS)
