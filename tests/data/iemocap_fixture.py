"""A miniature IEMOCAP_full_release with the real corpus's layout and quirks, for tests.

IEMOCAP cannot be redistributed, so the tests build a stand-in that has everything the
recipe must cope with:

- ``SessionN/dialog/EmoEvaluation/<dialog>.txt`` label files in latin-1, each with the
  ``% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]`` header, one
  ``[start - end]<TAB>id<TAB>label<TAB>[v, a, d]`` line per utterance (valence, arousal,
  dominance: means of evaluators' 1-5 ratings, in thirds, written ``2.6667``), and the
  evaluators' ``C-E2:`` / ``A-F1:`` lines after it (with non-ASCII latin-1 comments);
- ``Attribute/``, ``Categorical/`` and ``Self-evaluation/`` sub-folders whose files hold
  conflicting labels, and a macOS ``._<dialog>.txt`` dot-file of binary junk: the recipe
  must read none of them;
- ``SessionN/dialog/transcriptions/<dialog>.txt`` in latin-1 with accented words;
- ``SessionN/sentences/wav/<dialog>/<id>.wav``: real (tiny) 16 kHz wav files;
- all five sessions, a woman and a man in each, improvised and scripted dialogs, and the
  labels the 4-class set leaves out (xxx, fru, oth, sur, fea, dis).

Two modes share the writer: :data:`LAYOUT_COUNTS` (a few utterances per session, wav files
of varied lengths, excluded utterances with audio too) and :data:`PAPER_COUNTS` (the
5531 utterances of SPEC section 6, 30 ms wav files, excluded utterances without audio so
a recipe that opened them would fail). :data:`PAPER_COUNTS` spreads the published class
totals over the sessions plausibly; it is not the published per-session split.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sertk.data.iemocap import FOUR_CLASS
from tests.data.bad_audio import wav_bytes

RATE = 16_000
HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
# the real corpus's trend: anger and excitement are aroused, sadness is not (arousal 1-5)
AROUSAL = {"ang": 3.6667, "exc": 3.3333, "hap": 3.0, "fru": 3.0, "sur": 3.6667, "fea": 3.3333,
           "dis": 3.0, "neu": 2.3333, "sad": 2.0, "oth": 2.6667, "xxx": 2.6667}
EVALUATOR_WORDS = {"neu": "Neutral", "hap": "Happiness", "exc": "Excited", "ang": "Anger",
                   "sad": "Sadness", "fru": "Frustration", "sur": "Surprise", "fea": "Fear",
                   "dis": "Disgust", "oth": "Other", "xxx": "Neutral"}

# session -> IEMOCAP label -> utterances. Totals: neu 1708, hap 595, exc 1041, ang 1103,
# sad 1084 (SPEC section 6); the split over sessions is made up.
PAPER_COUNTS = {
    1: {"neu": 384, "hap": 135, "exc": 143, "ang": 229, "sad": 194, "xxx": 3, "fru": 2, "oth": 1},
    2: {"neu": 362, "hap": 117, "exc": 210, "ang": 137, "sad": 197, "xxx": 2, "sur": 1},
    3: {"neu": 320, "hap": 135, "exc": 151, "ang": 240, "sad": 305, "fru": 2, "fea": 1},
    4: {"neu": 258, "hap": 98, "exc": 238, "ang": 327, "sad": 143, "xxx": 1, "dis": 1},
    5: {"neu": 384, "hap": 110, "exc": 299, "ang": 170, "sad": 245, "fru": 1, "xxx": 1},
}
LAYOUT_COUNTS = {
    1: {"neu": 2, "hap": 1, "exc": 2, "ang": 1, "sad": 1, "xxx": 2, "fru": 1, "oth": 1},
    2: {"neu": 1, "hap": 2, "exc": 1, "ang": 2, "sad": 1, "xxx": 1, "sur": 1},
    3: {"neu": 2, "hap": 1, "exc": 1, "ang": 1, "sad": 2, "fru": 2, "fea": 1},
    4: {"neu": 1, "hap": 1, "exc": 2, "ang": 2, "sad": 1, "xxx": 1, "dis": 1},
    5: {"neu": 2, "hap": 2, "exc": 1, "ang": 1, "sad": 2, "fru": 1, "xxx": 1},
}


def dialogs(session: int) -> list[str]:
    """Two improvised and two scripted dialogs, led by the woman and by the man."""
    s = f"Ses{session:02d}"
    return [f"{s}F_impro01", f"{s}M_impro02", f"{s}F_script01_1", f"{s}M_script02_2"]


@dataclass
class IemocapFixture:
    """What the writer put on disk, for the tests to compare against.

    ``expected``: id -> the fields a recipe must produce (label is the 4-class name);
    ``raw``: id -> IEMOCAP label of every utterance, kept or not; ``excluded``: the
    ``.excluded`` summary the recipe must report; ``label_files``: id -> its label file.
    ``expected`` also holds each kept utterance's ``valence``, ``arousal`` and ``dominance``.
    """

    root: Path
    expected: dict[str, dict] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    excluded: Counter = field(default_factory=Counter)
    label_files: dict[str, Path] = field(default_factory=dict)

    def counts(self, key: str) -> Counter:
        """Kept utterances per (``key`` field, label), e.g. ``counts("session")``."""
        return Counter((e[key], e["label"]) for e in self.expected.values())


def write_iemocap(root: str | Path, counts: dict[int, dict[str, int]] = LAYOUT_COUNTS,
                  *, paper_mode: bool = False) -> IemocapFixture:
    """Write the miniature corpus under ``root`` (the ``IEMOCAP_full_release`` folder).

    ``paper_mode``: 480-sample wav files and no audio for excluded utterances (fast with
    5531 files); otherwise varied lengths and audio for every utterance.
    """
    fixture = IemocapFixture(Path(root))
    for session, table in counts.items():
        labels = [label for label, n in sorted(table.items()) for _ in range(n)]
        # interleave so every dialog and both speakers get a mix of labels
        labels = labels[::2] + labels[1::2]
        by_dialog: dict[str, list[tuple[str, str]]] = {d: [] for d in dialogs(session)}
        turns: Counter = Counter()
        for i, label in enumerate(labels):
            dialog = dialogs(session)[i % 4]
            gender = "FM"[(i // 4) % 2]
            utt_id = f"{dialog}_{gender}{turns[dialog, gender]:03d}"
            turns[dialog, gender] += 1
            by_dialog[dialog].append((utt_id, label))
        for dialog, utterances in by_dialog.items():
            _write_dialog(fixture, session, dialog, utterances, paper_mode)
        _write_traps(fixture.root / f"Session{session}" / "dialog" / "EmoEvaluation",
                     dialogs(session)[0], by_dialog[dialogs(session)[0]])
        fixture.excluded["hidden file"] += 1
    return fixture


def _write_dialog(fixture: IemocapFixture, session: int, dialog: str,
                  utterances: list[tuple[str, str]], paper_mode: bool) -> None:
    base = fixture.root / f"Session{session}"
    label_file = base / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
    label_lines, text_lines = [HEADER, ""], []
    wav_dir = base / "sentences" / "wav" / dialog
    wav_dir.mkdir(parents=True, exist_ok=True)
    for turn, (utt_id, label) in enumerate(utterances):
        samples = 480 if paper_mode else 400 + 37 * (len(fixture.raw) % 50)
        start = 2.0 + 3.1 * turn
        end = start + samples / RATE
        valence, arousal, dominance = ratings(label, len(fixture.raw))
        label_lines += [
            f"[{start:.4f} - {end:.4f}]\t{utt_id}\t{label}\t"
            f"[{valence:.4f}, {arousal:.4f}, {dominance:.4f}]",
            f"C-E2:\t{EVALUATOR_WORDS[label]};\t()",
            f"C-E3:\t{EVALUATOR_WORDS[label]}; Other;\t(énervé, très calme)",
            f"C-F1:\t{EVALUATOR_WORDS[label]};\t()",
            "A-E3:\tval 3; act 2; dom  2;\t()",
            "A-F1:\tval 2; act 3; dom  3;\t(à peine fâché)",
            "",
        ]
        text_lines.append(f"{utt_id} [{start:08.4f}-{end:08.4f}]: Señor, ¿qué pasa? Ça va.")
        fixture.raw[utt_id] = label
        fixture.label_files[utt_id] = label_file
        if label in FOUR_CLASS:
            gender = utt_id.rsplit("_", 1)[1][0]
            wav = wav_dir / f"{utt_id}.wav"
            fixture.expected[utt_id] = {
                "label": FOUR_CLASS[label], "speaker": f"Ses{session:02d}{gender}",
                "session": f"Session{session}", "gender": gender, "path": str(wav),
                "duration": samples / RATE, "valence": round(valence, 4),
                "arousal": round(arousal, 4), "dominance": round(dominance, 4),
            }
        else:
            fixture.excluded[f"label {label}"] += 1
            if paper_mode:
                continue
        (wav_dir / f"{utt_id}.wav").write_bytes(wav_bytes(samples, RATE, seed=samples))
    label_file.parent.mkdir(parents=True, exist_ok=True)
    label_file.write_bytes("\n".join(label_lines).encode("latin-1"))
    text_file = base / "dialog" / "transcriptions" / f"{dialog}.txt"
    text_file.parent.mkdir(parents=True, exist_ok=True)
    text_file.write_bytes("\n".join(text_lines).encode("latin-1"))


def ratings(label: str, n: int) -> tuple[float, float, float]:
    """Valence, arousal, dominance (1-5, in thirds) of the ``n``-th utterance: arousal
    follows the label (:data:`AROUSAL`) give or take a third; valence and dominance vary."""
    arousal = min(5.0, max(1.0, AROUSAL[label] + (n % 3 - 1) / 3))
    valence = 1.0 + (n * 7 % 13) / 3
    dominance = 1.0 + (n * 5 % 11) / 3
    return valence, arousal, dominance


def _write_traps(folder: Path, dialog: str, utterances: list[tuple[str, str]]) -> None:
    """Per-evaluator sub-folders with conflicting labels, and a macOS dot-file."""
    utt_id = utterances[0][0]
    (folder / "Categorical").mkdir(exist_ok=True)
    (folder / "Categorical" / f"{dialog}_e2_cat.txt").write_bytes(
        f"{utt_id} :Anger; ()\n".encode("latin-1"))
    (folder / "Attribute").mkdir(exist_ok=True)
    (folder / "Attribute" / f"{dialog}_e3_atr.txt").write_bytes(
        f"{utt_id} :val 5; act 5; dom  5; ()\n".encode("latin-1"))
    (folder / "Self-evaluation").mkdir(exist_ok=True)
    (folder / "Self-evaluation" / f"{dialog}.txt").write_bytes(
        f"[0.0000 - 1.0000]\t{utt_id}\tang\t[1.0, 1.0, 1.0]\n".encode("latin-1"))
    (folder / f"._{dialog}.txt").write_bytes(
        b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\xff\xfe\n[junk\t\xe9\n")
