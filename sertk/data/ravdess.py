"""RAVDESS: the Ryerson Audio-Visual Database of Emotional Speech and Song.

Livingstone & Russo, PLoS ONE 2018; CC BY-NC-SA 4.0, from https://zenodo.org/record/1188976.
24 actors (12 female, 12 male) say two neutral English statements in eight emotions.
The audio-only speech download (``Audio_Speech_Actors_01-24.zip``) holds 1440 wav files,
48 kHz 16-bit; the song download (``Audio_Song_Actors_01-24.zip``) another 1012.

Layout: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.wav``, seven two-digit fields:

- ``MM`` modality: 01 audio-video, 02 video-only, 03 audio-only (the only one in wav);
- ``VV`` vocal channel: 01 speech, 02 song;
- ``EE`` emotion: 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful,
  07 disgust, 08 surprised;
- ``II`` intensity: 01 normal, 02 strong (neutral has no strong version);
- ``SS`` statement: 01 "Kids are talking by the door", 02 "Dogs are sitting by the door";
- ``RR`` repetition: 01 or 02;
- ``AA`` actor: 01 .. 24, odd numbers male, even female.

:func:`prepare_ravdess` searches ``root`` recursively, so the zip's folder, its parent or
one actor's folder all work. ``speaker`` = ``session`` = ``Actor_XX``; the id is the file
stem (it contains the actor, so it is unique).

Song files (vocal channel 02) are a different task (sung, six emotions only, no disgust or
surprise), so by default they are left out and counted in ``.excluded``; ``include_song=True``
keeps them with the same labels. Dot-files are counted there too. A wav file whose name
breaks the convention, is not audio-only, has an unknown emotion or actor, or sits in
another actor's folder is a bad file.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from sertk.data.manifest import Utterance
from sertk.data.validate import Candidate, CorpusError, PreparedCorpus, Skipped, finish, is_hidden

CORPUS = "ravdess"
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}
N_ACTORS = 24
SONG = "song file (vocal channel 02)"
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_ACTOR_DIR = re.compile(r"^Actor_(\d\d)$")


def prepare_ravdess(root: str | Path, *, include_song: bool = False, skip_bad: bool = False,
                    decode: bool = True) -> PreparedCorpus:
    """Read the RAVDESS wav files anywhere under ``root``: the utterances sorted by id, labels
    from :data:`EMOTIONS` (song files are counted in ``.excluded`` unless ``include_song``).

    Raises:
        CorpusError: ``root`` is missing, holds no wav files, or (without ``skip_bad``)
            a file is bad; the message names the file and the reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "RAVDESS folder not found")
    candidates, bad, excluded = [], [], Counter()
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav"):
        if is_hidden(path):
            excluded["hidden file"] += 1
            continue
        try:
            utt = _utterance(path)
        except ValueError as err:
            bad.append(Skipped(os.path.abspath(path), str(err)))
            continue
        if is_song(utt) and not include_song:
            excluded[SONG] += 1
        else:
            candidates.append(Candidate(utt))
    if not candidates and not bad and not excluded:
        raise CorpusError(root, "no RAVDESS .wav files found")
    return finish(CORPUS, candidates, bad, excluded, skip_bad=skip_bad, decode=decode)


def is_song(utt: Utterance) -> bool:
    """Whether a RAVDESS utterance is sung (vocal channel 02 in its id)."""
    return utt.id.split("-")[1] == "02"


def _utterance(path: Path) -> Utterance:
    """The record for one file, from its name alone; ValueError if the name is bad."""
    match = _NAME.match(path.stem)
    if not match:
        raise ValueError("file name does not follow RAVDESS's MM-VV-EE-II-SS-RR-AA.wav convention")
    modality, channel, emotion, _, _, _, actor = match.groups()
    if modality != "03":
        raise ValueError(f"modality {modality} is not audio-only (03)")
    if channel not in ("01", "02"):
        raise ValueError(f"unknown vocal channel {channel} (01 speech, 02 song)")
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown RAVDESS emotion {emotion} (expected 01 to 08)")
    if not 1 <= int(actor) <= N_ACTORS:
        raise ValueError(f"unknown RAVDESS actor {actor} (expected 01 to {N_ACTORS})")
    folder = _ACTOR_DIR.match(path.parent.name)
    if folder and folder[1] != actor:
        raise ValueError(f"file name says actor {actor} but it is in {path.parent.name}/")
    speaker = f"Actor_{actor}"
    return Utterance(id=path.stem, path=os.path.abspath(path), label=EMOTIONS[emotion],
                     speaker=speaker, session=speaker, gender="M" if int(actor) % 2 else "F",
                     corpus=CORPUS)
