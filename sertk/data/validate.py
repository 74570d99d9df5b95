"""Checks shared by the corpus recipes: usable audio, unique ids, bad files reported.

A recipe reads names and labels and hands :func:`finish` a list of :class:`Candidate`
records plus the entries it could not parse. :func:`finish` then checks every file's audio
and every id, and either stops with a :class:`CorpusError` naming the first bad file and the
reason (the default) or, with ``skip_bad=True``, leaves the bad files out and lists each one
with its reason in the returned :class:`PreparedCorpus` (``.skipped``).

Nothing is dropped silently: files a recipe leaves out on purpose (IEMOCAP's
``xxx``/``fru``/... labels, RAVDESS song files, dot-files) are counted in
``PreparedCorpus.excluded``.

What "usable audio" means (:func:`check_audio`):

- the file exists, is not empty and libsndfile reads its header;
- a WAV file holds as many data bytes as its header declares (libsndfile itself
  quietly reads a truncated WAV as a shorter one; :func:`sertk.audio.audio_info` checks);
- with ``decode=True`` (the default) it decodes to the end, block by block
  (:func:`sertk.audio.scan_audio`: memory flat in the file's length), every sample is
  finite (no NaN/Inf) and within range, and where the container states an exact length
  (not MP3) as many samples decode as it states; it lasts at most
  :data:`sertk.audio.MAX_FILE_SECONDS`, the limit training's loader applies;
- it lasts at least one analysis window, ``WIN_LENGTH`` samples at 16 kHz
  (25 ms; :data:`MIN_SECONDS`), so the front-end yields at least one frame.

The duration returned is the header's, or with ``decode=True`` the decoded length (the
two differ only where the header gives an estimate, as in an MP3 without a Xing tag).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, NamedTuple

from sertk.audio import (  # noqa: F401 (wav_truncation: re-exported, it used to live here)
    MAX_FILE_SECONDS, SAMPLE_RATE, WIN_LENGTH, AudioError, checked_info, scan_audio,
    wav_truncation)
from sertk.data.manifest import Utterance, same_file_groups

MIN_SECONDS = WIN_LENGTH / SAMPLE_RATE  # one 25 ms analysis window


class CorpusError(ValueError):
    """A corpus that cannot be prepared. ``str(err)`` names the file and the reason."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class Skipped(NamedTuple):
    """A file (or ``file:line``) left out of a manifest, and why."""

    path: str
    reason: str


class Candidate(NamedTuple):
    """An utterance a recipe found, before its audio is checked; ``origin`` says where it
    was found when that is not the audio file itself (an IEMOCAP label line, a CSV row)."""

    utterance: Utterance
    origin: str = ""


class PreparedCorpus(list):
    """The utterances of a prepared corpus: a plain ``list[Utterance]``, plus

    - ``skipped``: ``list[Skipped]``, the bad files left out with ``skip_bad=True``;
    - ``excluded``: ``dict[str, int]``, what the recipe left out on purpose, by reason
      (e.g. ``{"label xxx": 2507}``).
    """

    def __init__(self, utterances: Iterable[Utterance] = (),
                 skipped: Iterable[Skipped] = (), excluded: dict[str, int] | None = None):
        super().__init__(utterances)
        self.skipped = list(skipped)
        self.excluded = dict(excluded or {})


def check_audio(path: str | Path, *, decode: bool = True) -> float:
    """Check that ``path`` is usable audio (see the module docstring); returns its duration
    in seconds. :class:`~sertk.audio.AudioError` names the file and the reason."""
    info = checked_info(path)  # a truncated WAV, an undecodable format: named with the reason
    frames = info.frames
    if decode:
        if info.duration > MAX_FILE_SECONDS:
            raise AudioError(path, f"{info.duration:.0f} s of audio is over the limit of "
                                   f"{MAX_FILE_SECONDS:.0f} s")
        frames = scan_audio(path, info)  # refuses a truncated file (sertk.audio.check_length)
    seconds = frames / info.sample_rate
    if seconds < MIN_SECONDS:
        raise AudioError(path, f"too short: {seconds * 1000:.1f} ms is less than one "
                               f"{MIN_SECONDS * 1000:.0f} ms analysis window")
    return seconds


def is_hidden(path: Path) -> bool:
    """Dot-files such as macOS ``._name.wav`` resource forks and ``.DS_Store``."""
    return path.name.startswith(".")


def finish(corpus: str, candidates: Iterable[Candidate], bad: Iterable[Skipped] = (),
           excluded: dict[str, int] | None = None, *, skip_bad: bool = False,
           decode: bool = True) -> PreparedCorpus:
    """Check ids and audio of ``candidates``; return them sorted by id, durations set.

    ``bad`` are entries the recipe already found unusable (unparseable name, unknown
    label). Without ``skip_bad`` the first bad entry raises :class:`CorpusError`;
    with it, all bad entries (every copy of a duplicated id, and every entry of an audio
    file listed twice however its path is written) are returned in ``.skipped`` and left out.
    """
    skipped = list(bad)
    _stop_unless(skip_bad, skipped)
    candidates = list(candidates)
    for split in (_split_duplicates, _split_same_files):
        candidates, dupes = split(candidates)
        skipped += dupes
        _stop_unless(skip_bad, skipped)
    kept = []
    for cand in candidates:
        utt = cand.utterance
        try:
            seconds = check_audio(utt.path, decode=decode)
        except AudioError as err:
            skipped.append(Skipped(utt.path, err.reason))
            _stop_unless(skip_bad, skipped)
            continue
        kept.append(replace(utt, duration=round(seconds, 6), corpus=utt.corpus or corpus))
    kept.sort(key=lambda u: u.id)
    return PreparedCorpus(kept, skipped, excluded)


def _split_duplicates(candidates: list[Candidate]) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates with a unique id, and a :class:`Skipped` for every copy of a shared one."""
    by_id: dict[str, list[int]] = {}
    for i, cand in enumerate(candidates):
        by_id.setdefault(cand.utterance.id, []).append(i)
    return _split_shared(candidates, by_id.values(),
                         "duplicate id {id!r}{here}, also used by {others}")


def _split_same_files(candidates: list[Candidate]) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates whose audio file no other candidate names, and a :class:`Skipped` for
    every entry of a file named twice (``a.wav``, ``sub/../a.wav``, links; see
    :func:`sertk.data.manifest.same_file_groups`)."""
    groups = same_file_groups((str(i), c.utterance.path) for i, c in enumerate(candidates))
    return _split_shared(candidates, [[int(i) for i, _ in group] for group in groups],
                         "the same audio file{here} is also listed as {others}")


def _split_shared(candidates: list[Candidate], groups: Iterable[list[int]], message: str
                  ) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates in no group of two or more (indices), and a :class:`Skipped` for every one
    in such a group, its reason ``message`` filled in with ``id``, ``here`` (" at <origin>"
    or "") and ``others``."""
    shared = {i: group for group in groups if len(group) > 1 for i in group}
    unique, dupes = [], []
    for i, cand in enumerate(candidates):
        if i not in shared:
            unique.append(cand)
            continue
        others = "; ".join(_where(candidates[j]) for j in shared[i] if j != i)
        here = f" at {cand.origin}" if cand.origin and cand.origin != cand.utterance.path else ""
        reason = message.format(id=cand.utterance.id, here=here, others=others)
        dupes.append(Skipped(cand.utterance.path, reason))
    return unique, dupes


def _where(cand: Candidate) -> str:
    path = cand.utterance.path
    return path if not cand.origin or cand.origin == path else f"{path} ({cand.origin})"


def _stop_unless(skip_bad: bool, skipped: list[Skipped]) -> None:
    if skipped and not skip_bad:
        first = skipped[0]
        raise CorpusError(first.path, f"{first.reason} (use skip_bad=True / --skip-bad "
                                      "to leave bad files out and list them)")
