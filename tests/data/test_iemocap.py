"""Tests for sertk.data.iemocap on the miniature corpus of tests/data/iemocap_fixture.py."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sertk.data.iemocap import FOUR_CLASS, prepare_iemocap
from sertk.data.validate import CorpusError
from tests.data.bad_audio import write_bad
from tests.data.iemocap_fixture import LAYOUT_COUNTS, PAPER_COUNTS, write_iemocap

# SPEC section 6
SPEC_TOTAL = 5531
SPEC_CLASSES = {"neutral": 1708, "happy": 1636, "angry": 1103, "sad": 1084}
SPEC_HAP, SPEC_EXC = 595, 1041


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return write_iemocap(tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release")


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return write_iemocap(tmp_path_factory.mktemp("iemocap_paper"), PAPER_COUNTS, paper_mode=True)


def test_fixture_has_the_real_layout(layout):
    session = layout.root / "Session1" / "dialog"
    label_text = (session / "EmoEvaluation" / "Ses01F_impro01.txt").read_bytes()
    assert label_text.startswith(b"% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]")
    assert b"\nC-E2:\t" in label_text and b"\nA-F1:\t" in label_text
    with pytest.raises(UnicodeDecodeError):  # latin-1, not UTF-8
        (session / "transcriptions" / "Ses01F_impro01.txt").read_text(encoding="utf-8")
    with pytest.raises(UnicodeDecodeError):
        label_text.decode("utf-8")
    raw = Counter(layout.raw.values())
    assert {"xxx", "oth", "fru", "sur", "fea", "dis"} <= set(raw) and raw["exc"] and raw["hap"]
    ids = list(layout.expected)
    assert any("_impro" in i for i in ids) and any("_script" in i for i in ids)
    assert {e["gender"] for e in layout.expected.values()} == {"F", "M"}
    assert {e["session"] for e in layout.expected.values()} == {f"Session{n}" for n in range(1, 6)}


def test_layout_fixture_is_read_exactly(layout):
    utts = prepare_iemocap(layout.root)
    assert [u.id for u in utts] == sorted(layout.expected)
    for u in utts:
        want = layout.expected[u.id]
        fields = ("label", "speaker", "session", "gender", "path")
        assert [getattr(u, f) for f in fields] == [want[f] for f in fields]
        assert u.corpus == "iemocap"
        assert u.duration == pytest.approx(want["duration"], abs=1e-6)  # rounded to 1 us
        assert (u.valence, u.arousal, u.dominance) == (
            want["valence"], want["arousal"], want["dominance"])  # [V, A, D] on the line
    assert utts.excluded == dict(layout.excluded)
    assert utts.skipped == []


def test_speaker_and_label_rules(layout):
    utts = {u.id: u for u in prepare_iemocap(layout.root.parent)}  # the parent works too
    male_in_female_dialog = next(i for i in utts if i.startswith("Ses01F_") and "_M0" in i)
    assert utts[male_in_female_dialog].speaker == "Ses01M"
    assert utts[male_in_female_dialog].gender == "M"
    for utt_id, u in utts.items():
        assert u.label == FOUR_CLASS[layout.raw[utt_id]]
    assert any(layout.raw[i] == "exc" for i in utts) and {u.label for u in utts.values()} == set(
        SPEC_CLASSES)


def test_label_map_and_sessions_options(layout):
    five = prepare_iemocap(layout.root, labels={**FOUR_CLASS, "fru": "frustrated"}, sessions=[2, 3])
    assert {u.session for u in five} == {"Session2", "Session3"}
    want = sum(LAYOUT_COUNTS[s].get(k, 0) for s in (2, 3) for k in (*FOUR_CLASS, "fru"))
    assert len(five) == want and "label fru" not in five.excluded
    with pytest.raises(CorpusError, match="unknown IEMOCAP label"):
        prepare_iemocap(layout.root, labels={"joy": "happy"})


def test_paper_counts(paper):
    utts = prepare_iemocap(paper.root)
    assert len(utts) == SPEC_TOTAL
    assert Counter(u.label for u in utts) == SPEC_CLASSES
    assert Counter((u.session, u.label) for u in utts) == paper.counts("session")
    assert Counter((u.speaker, u.label) for u in utts) == paper.counts("speaker")
    assert len({u.speaker for u in utts}) == 10
    split = prepare_iemocap(paper.root, labels={"hap": "hap", "exc": "exc"})
    assert Counter(u.label for u in split) == {"hap": SPEC_HAP, "exc": SPEC_EXC}


def test_missing_session(tmp_path):
    with pytest.raises(CorpusError, match="Session1 labels not found"):
        prepare_iemocap(tmp_path)
    with pytest.raises(CorpusError, match="IEMOCAP folder not found"):
        prepare_iemocap(tmp_path / "nope")


def test_bad_audio_lines_and_duplicates(tmp_path):
    fixture = write_iemocap(tmp_path / "IEMOCAP_full_release")
    kept = sorted(fixture.expected)  # Ses01F_... first
    nan_wav, missing_wav = fixture.expected[kept[0]]["path"], fixture.expected[kept[1]]["path"]
    write_bad("nan", nan_wav)
    Path(missing_wav).unlink()
    label_file = fixture.label_files[kept[2]]
    lines = label_file.read_bytes().decode("latin-1").splitlines()
    lines += ["[1.0000 - 2.0000]\tSes01F_impro01_F900\tjoy\t[1.0, 1.0, 1.0]",
              "[1.0000 - 2.0000 Ses01F_impro01_F901 neu",
              "[1.0000 - 2.0000]\tSes02F_impro01_F902\tneu\t[1.0, 1.0, 1.0]",
              next(line for line in lines if kept[2] in line)]  # the same id twice
    label_file.write_bytes("\n".join(lines).encode("latin-1"))
    n = len(lines)
    with pytest.raises(CorpusError) as err:
        prepare_iemocap(fixture.root)
    assert str(err.value).startswith(f"{label_file}:{n - 3}: Ses01F_impro01_F900: unknown "
                                     "IEMOCAP label 'joy'")
    utts = prepare_iemocap(fixture.root, skip_bad=True)
    reasons = [f"{s.path}: {s.reason}" for s in utts.skipped]
    assert reasons[0].startswith(f"{label_file}:{n - 3}: Ses01F_impro01_F900: unknown")
    assert reasons[1].startswith(f"{label_file}:{n - 2}: line does not parse")
    assert reasons[2].startswith(f"{label_file}:{n - 1}: id 'Ses02F_impro01_F902' belongs "
                                 "to session 2, found in Session1")
    duplicates = [r for r in reasons if f"duplicate id '{kept[2]}'" in r]
    assert len(duplicates) == 2 and f"{label_file}:{n}" in " ".join(duplicates)
    assert f"{missing_wav}: file not found" in reasons
    assert any(r.startswith(f"{nan_wav}: ") and "NaN" in r for r in reasons)
    assert len(reasons) == 7
    assert [u.id for u in utts] == [i for i in kept if i not in kept[:3]]


def test_ratings_are_read_in_v_a_d_order_and_vary(layout):
    utts = prepare_iemocap(layout.root)
    line = next(line for line in layout.label_files[utts[0].id].read_text("latin-1").splitlines()
                if f"\t{utts[0].id}\t" in line)
    v, a, d = (float(x) for x in line.rsplit("[", 1)[1].rstrip("]").split(","))
    assert (utts[0].valence, utts[0].arousal, utts[0].dominance) == (v, a, d)
    for name in ("valence", "arousal", "dominance"):
        values = [getattr(u, name) for u in utts]
        assert len(set(values)) > 2 and all(1.0 <= x <= 5.0 for x in values), name


@pytest.mark.parametrize("triple", ["[2.5, 3.0]", "[2.5, high, 3.0]", "[nan, 3.0, 2.0]", "[]"])
def test_a_bad_v_a_d_triple_is_a_bad_line(tmp_path, triple):
    fixture = write_iemocap(tmp_path / "IEMOCAP_full_release", {1: {"neu": 2, "sad": 1}})
    utt_id = sorted(fixture.expected)[0]
    label_file = fixture.label_files[utt_id]
    lines = label_file.read_bytes().decode("latin-1").splitlines()
    number = next(n for n, line in enumerate(lines, 1) if f"\t{utt_id}\t" in line)
    lines[number - 1] = lines[number - 1].rsplit("\t", 1)[0] + "\t" + triple
    label_file.write_bytes("\n".join(lines).encode("latin-1"))
    utts = prepare_iemocap(fixture.root, sessions=[1], skip_bad=True)
    assert [f"{s.path}: {s.reason}" for s in utts.skipped] == [
        f"{label_file}:{number}: {utt_id}: [V, A, D] {triple} is not three numbers"]
    assert utt_id not in {u.id for u in utts}
