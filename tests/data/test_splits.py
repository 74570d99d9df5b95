"""Protocols: fold structure, stratification, speaker/session disjointness, errors."""
from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sertk.data.manifest import Utterance
from sertk.data.splits import (Fold, LeakageError, SplitError, SplitWarning, check_folds, kfold,
                               list_protocols, loso, lospk, make_folds)


def manifest(n_per=(30, 20, 10), speakers=("s1", "s2", "s10", "s3"), sessions=None):
    """Classes a/b/c with n_per members, spread round-robin over the speakers."""
    utts, i = [], 0
    for label, n in zip("abc", n_per):
        for _ in range(n):
            spk = speakers[i % len(speakers)]
            ses = sessions[spk] if sessions else ""
            utts.append(Utterance(f"u{i:03d}", f"u{i:03d}.wav", label, speaker=spk, session=ses))
            i += 1
    return utts


def iemocap_like(n=8):
    """5 sessions x (F, M) speakers, 4 classes each."""
    return [Utterance(f"Ses0{s}{g}_{i}", "x.wav", "nhas"[i % 4], speaker=f"Ses0{s}{g}",
                      session=f"Ses0{s}", gender=g)
            for s in range(1, 6) for g in "FM" for i in range(n)]


def speakers_of(utts, ids):
    by_id = {u.id: u for u in utts}
    return {by_id[i].speaker for i in ids}


def test_registry_lists_the_three_protocols():
    assert {"kfold", "loso", "lospk"} <= set(list_protocols())
    with pytest.raises(SplitError, match="unknown protocol 'nope'"):
        make_folds(manifest(), "nope")


def test_kfold_tests_every_utterance_once_stratified():
    utts = manifest()
    folds = make_folds(utts, "kfold", k=5, seed=3)
    assert [f.index for f in folds] == list(range(5))
    tested = Counter(i for f in folds for i in f.test_ids)
    assert set(tested) == {u.id for u in utts} and set(tested.values()) == {1}
    label = {u.id: u.label for u in utts}
    for fold in folds:
        counts = Counter(label[i] for i in fold.test_ids)
        assert counts == {"a": 6, "b": 4, "c": 2}  # 30/20/10 over 5 folds exactly
        val = Counter(label[i] for i in fold.val_ids)
        # 10% of each class of the 48 training utterances: 24*.1, 16*.1, 8*.1 rounded
        assert val == {"a": 2, "b": 2, "c": 1}
        assert len(fold.train_ids) + len(fold.val_ids) + len(fold.test_ids) == len(utts)
        order = [u.id for u in utts]
        assert list(fold.test_ids) == sorted(fold.test_ids, key=order.index)  # manifest order


def test_kfold_is_seeded_and_does_not_mutate_input():
    utts = manifest()
    before = list(utts)
    a = make_folds(utts, "kfold", seed=1)
    assert a == make_folds(utts, "kfold", seed=1)
    assert a != make_folds(utts, "kfold", seed=2)
    assert utts == before


def test_kfold_val_fraction_zero_gives_no_validation():
    folds = kfold(manifest(), val_fraction=0.0)
    assert all(f.val_ids == () for f in folds)


def test_kfold_rare_class_warns_single_member_class_fails():
    rare = manifest(n_per=(20, 20, 3))
    with pytest.warns(SplitWarning, match=r"c \(3\)"):
        folds = make_folds(rare, "kfold", k=5)
    assert sum(1 for f in folds if any(i in {u.id for u in rare[-3:]} for i in f.test_ids)) == 3
    with pytest.raises(SplitError, match="class.*c.*single utterance"):
        make_folds(manifest(n_per=(20, 20, 1)), "kfold")


@pytest.mark.parametrize("utts, k, message", [
    ([], 5, "empty manifest"),
    (manifest(n_per=(2, 1, 0)), 5, "at least 5 utterances"),
    (manifest(), 1, "k >= 2"),
])
def test_kfold_errors(utts, k, message):
    with pytest.raises(SplitError, match=message):
        make_folds(utts, "kfold", k=k)


def test_duplicate_ids_are_refused():
    utts = manifest()
    with pytest.raises(SplitError, match="duplicate utterance ids.*u000"):
        make_folds(utts + [utts[0]], "kfold")


def test_lospk_one_fold_per_speaker_validates_on_next_speaker():
    utts = manifest()
    folds = make_folds(utts, "lospk")
    # natural order: s1, s2, s3, s10
    assert [f.name for f in folds] == ["speaker=s1", "speaker=s2", "speaker=s3", "speaker=s10"]
    expected_val = ["s2", "s3", "s10", "s1"]
    for fold, val_speaker in zip(folds, expected_val):
        test_spk = fold.name.split("=")[1]
        assert speakers_of(utts, fold.test_ids) == {test_spk}
        assert speakers_of(utts, fold.val_ids) == {val_speaker}
        assert speakers_of(utts, fold.train_ids) == {"s1", "s2", "s3", "s10"} - {test_spk, val_speaker}


def test_lospk_val_speakers_count_fraction_and_zero():
    utts = manifest(speakers=tuple(f"p{i}" for i in range(6)))
    two = lospk(utts, val_speakers=2)
    assert all(len(speakers_of(utts, f.val_ids)) == 2 for f in two)
    half = lospk(utts, val_speakers=0.5)  # half of the 5 training speakers, rounded: 3
    assert all(len(speakers_of(utts, f.val_ids)) == 3 for f in half)
    assert all(f.val_ids == () for f in lospk(utts, val_speakers=0))
    with pytest.raises(SplitError, match="too few to hold out 5"):
        lospk(utts, val_speakers=5)
    with pytest.raises(SplitError, match="val_speakers must be"):
        lospk(utts, val_speakers=-1)


def test_lospk_needs_speakers():
    utts = manifest()
    no_speaker = [replace(u, speaker="") if u.id in ("u001", "u004") else u for u in utts]
    with pytest.raises(SplitError, match="2 utterance.*no speaker: u001, u004"):
        make_folds(no_speaker, "lospk")
    with pytest.raises(SplitError, match="at least 2 speakers"):
        make_folds(manifest(speakers=("only",)), "lospk")


def test_class_missing_from_a_training_part_is_an_error_missing_from_test_is_fine():
    utts = manifest()
    # EmoDB-like: speaker s2 never says "c" -> fold testing s2 simply lacks c: fine
    utts_ok = [u for u in utts if not (u.speaker == "s2" and u.label == "c")]
    make_folds(utts_ok, "lospk")
    # only s2 says "c": the fold testing s2 (or validating on it) would never train on c
    only_s2 = [u for u in utts if u.label != "c" or u.speaker == "s2"]
    with pytest.raises(SplitError, match="class.*c absent from the training part"):
        make_folds(only_s2, "lospk")


def test_loso_holds_out_sessions_and_validates_on_a_speaker_of_the_next():
    utts = iemocap_like()
    folds = make_folds(utts, "loso")
    assert [f.name for f in folds] == [f"session=Ses0{s}" for s in range(1, 6)]
    for fold, nxt in zip(folds, [2, 3, 4, 5, 1]):
        s = fold.name[-1]
        assert speakers_of(utts, fold.test_ids) == {f"Ses0{s}F", f"Ses0{s}M"}
        assert speakers_of(utts, fold.val_ids) == {f"Ses0{nxt}F"}
        assert f"Ses0{nxt}M" in speakers_of(utts, fold.train_ids)
    whole = loso(utts, val_speakers=2)  # the whole next session
    assert speakers_of(utts, whole[0].val_ids) == {"Ses02F", "Ses02M"}


def test_loso_needs_sessions():
    with pytest.raises(SplitError, match="no session"):
        make_folds(manifest(), "loso")


def test_check_folds_catches_leaks():
    utts = iemocap_like()
    folds = make_folds(utts, "loso")
    f0 = folds[0]
    tampered = [
        (replace(f0, train_ids=f0.train_ids + f0.test_ids[:1]), LeakageError, "in both train and test"),
        (replace(f0, val_ids=f0.val_ids + f0.train_ids[:1],
                 train_ids=f0.train_ids[1:]), LeakageError, "speaker.*in both validation and train"),
        (replace(f0, test_ids=f0.test_ids[1:], train_ids=f0.train_ids + f0.test_ids[:1]),
         LeakageError, "session.*Ses01.*test and train"),
        (replace(f0, test_ids=f0.test_ids + ("ghost",)), SplitError, "not in the manifest: ghost"),
        (replace(f0, test_ids=f0.test_ids[1:]), SplitError, "in no part"),
    ]
    for bad, error, message in tampered:
        with pytest.raises(error, match=message):
            check_folds(utts, [bad] + folds[1:], "loso")
    with pytest.raises(LeakageError, match="tested in several folds"):
        check_folds(utts, [folds[0], replace(folds[0], index=1)], "kfold")
    with pytest.raises(SplitError, match="never tested"):
        check_folds(utts, folds[:4], "loso")


def test_fold_dict_round_trip():
    fold = make_folds(manifest(), "lospk")[1]
    assert Fold.from_dict(fold.to_dict()) == fold


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from("xyz"), st.sampled_from(["p1", "p2", "p3", "p4"])),
                min_size=10, max_size=60),
       st.sampled_from(["kfold", "lospk"]), st.integers(0, 3))
def test_any_accepted_split_is_sound(rows, protocol, seed):
    utts = [Utterance(f"u{i}", "x.wav", lab, speaker=spk) for i, (lab, spk) in enumerate(rows)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SplitWarning)
            folds = make_folds(utts, protocol, k=3, seed=seed)
    except SplitError as err:  # only the documented refusals of a small random manifest
        assert re.search("absent from the training part|single utterance|every class has fewer"
                         "|too few to hold out|at least 2 speakers|at least 2 classes",
                         str(err)), err
        return
    ids = {u.id for u in utts}
    assert sorted(i for f in folds for i in f.test_ids) == sorted(ids)
    for f in folds:
        assert set(f.train_ids) | set(f.val_ids) | set(f.test_ids) == ids
        assert not set(f.train_ids) & set(f.test_ids)
        if protocol == "lospk":
            assert not speakers_of(utts, f.test_ids) & speakers_of(utts, f.train_ids + f.val_ids)


def test_emodb_lospk(emodb_dir):
    files = sorted((emodb_dir / "wav").glob("*.wav"))
    utts = [Utterance(f.stem, str(f), f.stem[5], speaker=f.stem[:2]) for f in files]
    folds = make_folds(utts, "lospk")
    assert [f.name for f in folds] == [f"speaker={s}" for s in
                                       "03 08 09 10 11 12 13 14 15 16".split()]
    assert sum(len(f.test_ids) for f in folds) == len(utts) == 535
    assert speakers_of(utts, folds[0].val_ids) == {"08"}
    assert speakers_of(utts, folds[-1].val_ids) == {"03"}
