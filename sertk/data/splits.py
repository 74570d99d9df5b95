"""Evaluation protocols: split a manifest into cross-validation folds (SPEC section 5).

Three registered protocols, each a builder ``(utterances, **options) -> list[Fold]``:

- ``kfold``: stratified random k-fold (k=5, the paper's IEMOCAP protocol). Speaker-dependent:
  one speaker's utterances land in train and test alike.
- ``loso``: leave-one-session-out, one fold per session (IEMOCAP: 5 folds).
- ``lospk``: leave-one-speaker-out, one fold per speaker (EmoDB: 10 folds).

Every fold also carves a validation part out of its training part, because model selection
(best validation UA, early stopping; SPEC section 4) must never look at the test fold:

- ``kfold``: a stratified random ``val_fraction`` of the training part (0.1 by default).
- ``loso``/``lospk``: speaker-disjoint, so validation mimics the unseen-speaker test.
  ``val_speakers`` training speakers are held out whole (1 by default; an int is a count,
  a float in (0, 1) a fraction of the training speakers, 0 means no validation part).
  They are the speakers that follow the test group in natural sorted order, cyclically
  (the naive reference recipe's "next speaker"): for ``lospk`` on EmoDB testing speaker 03
  validates on 08; for ``loso`` on IEMOCAP testing Ses01 validates on Ses02F, and
  ``val_speakers=2`` holds out the whole of Ses02 (session-disjoint validation as well).
  A speaker-disjoint part cannot be stratified: it holds whatever its speakers said.

``seed`` drives the random ``kfold`` protocol only; the group protocols are deterministic.
Every builder's folds pass :func:`check_folds`, which raises :class:`LeakageError` if
anything crosses between test, train and validation. Nothing here mutates its input.

Example:
    >>> from sertk.data.manifest import Utterance
    >>> utts = [Utterance(f"u{i}", f"u{i}.wav", "ab"[i % 2], speaker=f"s{i % 3}")
    ...         for i in range(12)]
    >>> folds = make_folds(utts, "lospk")
    >>> [(f.name, len(f.train_ids), len(f.val_ids), len(f.test_ids)) for f in folds]
    [('speaker=s0', 4, 4, 4), ('speaker=s1', 4, 4, 4), ('speaker=s2', 4, 4, 4)]
"""
from __future__ import annotations

import functools
import re
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from sertk.data.manifest import ManifestError, Utterance, check_unique_ids, label_names, listed

DEFAULT_K = 5
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_VAL_SPEAKERS = 1


class SplitError(ValueError):
    """A manifest that cannot be split under a protocol; the message says why."""


class LeakageError(SplitError):
    """An utterance, speaker or session crosses between test, train and validation."""


class SplitWarning(UserWarning):
    """A split that works but is weaker than asked (e.g. a class rarer than k)."""


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: utterance ids of its three disjoint parts, in the
    manifest's order. ``index`` counts from 0; ``name`` says what is held out (``kfold 1/5``,
    ``session=Ses01``, ``speaker=03``)."""

    index: int
    name: str
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    test_ids: tuple[str, ...]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, row: dict) -> "Fold":
        return cls(int(row["index"]), str(row["name"]), tuple(row["train_ids"]),
                   tuple(row["val_ids"]), tuple(row["test_ids"]))


@dataclass(frozen=True)
class Protocol:
    """A registered protocol: its builder and the fields that must not cross parts:
    ``test_disjoint`` (``speaker``/``session``) between test and train or validation,
    ``val_disjoint`` between train and validation."""

    name: str
    build: Callable[..., list[Fold]]
    test_disjoint: tuple[str, ...] = ()
    val_disjoint: tuple[str, ...] = ()


PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(name: str, *, test_disjoint: Sequence[str] = (),
                      val_disjoint: Sequence[str] = ()):
    """Decorator: register ``builder(utterances, **options) -> list[Fold]`` under ``name``;
    the registered function checks its folds with :func:`check_folds` before returning them."""
    def decorator(builder: Callable[..., list[Fold]]) -> Callable[..., list[Fold]]:
        @functools.wraps(builder)
        def checked(utterances: Sequence[Utterance], **options) -> list[Fold]:
            folds = builder(utterances, **options)
            check_folds(utterances, folds, name)
            return folds

        PROTOCOLS[name] = Protocol(name, checked, tuple(test_disjoint), tuple(val_disjoint))
        return checked
    return decorator


def list_protocols() -> list[str]:
    return sorted(PROTOCOLS)


def make_folds(utterances: Sequence[Utterance], protocol: str, *, k: int = DEFAULT_K,
               seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION,
               val_speakers: int | float = DEFAULT_VAL_SPEAKERS) -> list[Fold]:
    """Split ``utterances`` under ``protocol`` (``kfold``, ``loso`` or ``lospk``); checked.
    ``k``, ``seed`` and ``val_fraction`` apply to ``kfold``, ``val_speakers`` to the others.
    Raises :class:`SplitError` for an unusable manifest, naming the reason."""
    if protocol == "kfold":
        options = {"k": k, "seed": seed, "val_fraction": val_fraction}
    else:
        options = {"val_speakers": val_speakers}
    return _protocol(protocol).build(utterances, **options)


@register_protocol("kfold")
def kfold(utterances: Sequence[Utterance], *, k: int = DEFAULT_K, seed: int = 0,
          val_fraction: float = DEFAULT_VAL_FRACTION) -> list[Fold]:
    """Stratified random k-fold; each training part gives up a stratified ``val_fraction``.

    A class with fewer than ``k`` members is allowed with a :class:`SplitWarning` (some test
    folds then lack it, which the fold UA tolerates); one with a single member is an error,
    as it cannot be both trained on and tested.
    """
    utts = _checked_manifest(utterances)
    if not isinstance(k, int) or k < 2:
        raise SplitError(f"kfold needs an integer k >= 2, got {k!r}")
    if len(utts) < k:
        raise SplitError(f"kfold with k={k} needs at least {k} utterances, got {len(utts)}")
    if not 0.0 <= val_fraction < 1.0:
        raise SplitError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    labels = [u.label for u in utts]
    _check_class_sizes(Counter(labels), k)
    from sklearn.model_selection import StratifiedKFold  # heavy: only when splitting

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # sklearn's "least populated class" warning: ours is clearer
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(np.zeros((len(utts), 1)), labels))
    folds = []
    for index, (train_idx, test_idx) in enumerate(splits):
        rng = np.random.default_rng([seed, index])
        train_idx, val_idx = _stratified_holdout(train_idx, labels, val_fraction, rng)
        folds.append(Fold(index, f"kfold {index + 1}/{k}", _ids(utts, train_idx),
                          _ids(utts, val_idx), _ids(utts, test_idx)))
    return folds


@register_protocol("loso", test_disjoint=("session",), val_disjoint=("speaker",))
def loso(utterances: Sequence[Utterance], *,
         val_speakers: int | float = DEFAULT_VAL_SPEAKERS) -> list[Fold]:
    """Leave-one-session-out: one fold per session; speaker-disjoint validation."""
    return _leave_one_group_out(utterances, "session", val_speakers)


@register_protocol("lospk", test_disjoint=("speaker",), val_disjoint=("speaker",))
def lospk(utterances: Sequence[Utterance], *,
          val_speakers: int | float = DEFAULT_VAL_SPEAKERS) -> list[Fold]:
    """Leave-one-speaker-out: one fold per speaker; speaker-disjoint validation."""
    return _leave_one_group_out(utterances, "speaker", val_speakers)


def check_folds(utterances: Sequence[Utterance], folds: Sequence[Fold], protocol: str) -> None:
    """Raise unless ``folds`` are a sound split of ``utterances`` under ``protocol``: every
    fold's train/val/test are disjoint and together hold every utterance exactly once; every
    utterance is tested in exactly one fold; every class occurs in every training part; and
    the protocol's disjointness (``loso``: sessions, ``lospk``: speakers, between test and
    train+val; both: speakers between train and val). :class:`LeakageError` for anything
    crossing parts, :class:`SplitError` otherwise.
    """
    utts = _checked_manifest(utterances)
    spec = _protocol(protocol)
    if not folds:
        raise SplitError(f"{protocol}: no folds")
    if sorted(f.index for f in folds) != list(range(len(folds))):
        raise SplitError(f"{protocol}: fold indices must be 0..{len(folds) - 1}, "
                         f"got {[f.index for f in folds]}")
    by_id = {u.id: u for u in utts}
    classes = set(label_names(utts))
    tested = Counter()
    for fold in folds:
        _check_one_fold(fold, by_id, spec)
        if not fold.test_ids:
            raise SplitError(f"{fold.name}: empty test part")
        covered = len(fold.train_ids) + len(fold.val_ids) + len(fold.test_ids)
        if covered != len(by_id):
            parts = set(fold.train_ids + fold.val_ids + fold.test_ids)
            left = [i for i in by_id if i not in parts]
            raise SplitError(f"{fold.name}: {len(left)} utterance(s) in no part: {listed(left)}")
        tested.update(fold.test_ids)
        absent = classes - {by_id[i].label for i in fold.train_ids}
        if absent:
            raise SplitError(f"{fold.name}: class(es) {', '.join(sorted(absent))} absent from the "
                             "training part, so the model would never see them")
    twice = sorted(i for i, n in tested.items() if n > 1)
    if twice:
        raise LeakageError(f"{protocol}: {len(twice)} utterance(s) tested in several folds: "
                           f"{listed(twice)}")
    never = [u.id for u in utts if u.id not in tested]
    if never:
        raise SplitError(f"{protocol}: {len(never)} utterance(s) never tested: {listed(never)}")


def check_fold(utterances: Sequence[Utterance], fold: Fold, protocol: str) -> None:
    """Raise unless one fold (of any maker, a final split without a test part included) is
    sound under ``protocol``: the per-fold checks of :func:`check_folds` (known, unrepeated
    ids, a training part, disjoint parts, the protocol's disjoint fields) without the
    whole-plan ones (coverage, every utterance tested once). An unknown protocol (such as
    ``final``) checks ids only. :class:`LeakageError` for anything crossing parts."""
    _check_one_fold(fold, {u.id: u for u in utterances}, PROTOCOLS.get(protocol))


def check_fold_labels(utterances: Sequence[Utterance], fold: Fold, labels: Sequence[str]) -> None:
    """Raise :class:`SplitError` unless ``labels`` (the classifier's classes, in output order)
    fit ``fold``: at least two distinct classes, every utterance of the fold labelled with one
    of them (nothing silently dropped or mis-indexed), and each of them present in the
    training part (a model cannot learn a class it never sees). The fold's ids must be in
    ``utterances``."""
    labels = list(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise SplitError(f"a classifier needs at least 2 distinct classes, got {labels}")
    by_id = {u.id: u for u in utterances}
    known = set(labels)
    unknown = Counter(by_id[i].label for i in (*fold.train_ids, *fold.val_ids, *fold.test_ids)
                      if by_id[i].label not in known)
    if unknown:
        shown = ", ".join(f"{label!r} ({n})" for label, n in sorted(unknown.items()))
        raise SplitError(f"{fold.name}: label(s) {shown} are not among the classes {labels}")
    seen = {by_id[i].label for i in fold.train_ids}
    absent = [label for label in labels if label not in seen]
    if absent:
        raise SplitError(f"{fold.name}: class(es) {', '.join(absent)} absent from the training "
                         "part, so the model would never see them")


def speaker_holdout(utterances: Sequence[Utterance], val_speakers: int | float = 1,
                    seed: int = 0, name: str = "final") -> Fold:
    """All of ``utterances`` as one fold without a test part, ``val_speakers`` whole speakers
    (a count, or a fraction of the speakers) held out for validation, drawn with ``seed``.

    For training the model you ship: what it is selected on (an epoch, a C) is then judged on
    speakers it does not train on, as it will be used. Raises :class:`SplitError` for an
    utterance without a speaker or too few speakers to hold out and still train.
    """
    utts = _checked_manifest(utterances)
    missing = [u.id for u in utts if not u.speaker.strip()]
    if missing:
        raise SplitError(f"{name}: validation speakers need a speaker for every utterance; "
                         f"{len(missing)} have none: {listed(missing)}")
    _check_val_speakers(val_speakers)
    speakers = sorted({u.speaker for u in utts}, key=_natural_key)
    n_val = _n_val_speakers(val_speakers, len(speakers))
    if not 0 < n_val < len(speakers):
        raise SplitError(f"{name}: cannot hold out {n_val} of {len(speakers)} speaker(s) for "
                         "validation and still train on the others")
    held = {speakers[i] for i in np.random.default_rng(seed).choice(len(speakers), n_val,
                                                                     replace=False)}
    train = [i for i, u in enumerate(utts) if u.speaker not in held]
    val = [i for i, u in enumerate(utts) if u.speaker in held]
    return Fold(0, name, _ids(utts, train), _ids(utts, val), ())


# --- helpers ---------------------------------------------------------------------------------

def _protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise SplitError(f"unknown protocol {name!r}; choose one of {', '.join(list_protocols())}")
    return PROTOCOLS[name]


def _checked_manifest(utterances: Iterable[Utterance]) -> tuple[Utterance, ...]:
    utts = tuple(utterances)
    if not utts:
        raise SplitError("cannot split an empty manifest")
    try:
        check_unique_ids(utts)
    except ManifestError as err:
        raise SplitError(str(err)) from None
    classes = label_names(utts)
    if len(classes) < 2:
        raise SplitError(f"a classifier needs at least 2 classes; the manifest has "
                         f"{len(classes)}: {classes}")
    return utts


def _check_class_sizes(counts: Counter, k: int) -> None:
    single = sorted(c for c, n in counts.items() if n < 2)
    if single:
        raise SplitError(f"kfold: class(es) {', '.join(single)} have a single utterance, "
                         "which cannot be both trained on and tested")
    if max(counts.values()) < k:
        raise SplitError(f"kfold with k={k}: every class has fewer than {k} utterances")
    rare = sorted(f"{c} ({n})" for c, n in counts.items() if n < k)
    if rare:
        warnings.warn(f"kfold with k={k}: class(es) {', '.join(rare)} have fewer than {k} "
                      "utterances, so some test folds lack them", SplitWarning, stacklevel=4)


def _stratified_holdout(indices: np.ndarray, labels: Sequence[str], fraction: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (train, val): round(fraction * n) of each class go to val,
    never the last member of a class. Both returned sorted (manifest order)."""
    val = []
    for label in sorted({labels[i] for i in indices}):
        members = np.array([i for i in indices if labels[i] == label])
        n_val = min(int(fraction * len(members) + 0.5), len(members) - 1)
        val.extend(rng.permutation(members)[:n_val].tolist())
    val_set = set(val)
    train = np.array(sorted(i for i in indices if i not in val_set), dtype=int)
    return train, np.array(sorted(val_set), dtype=int)


def _leave_one_group_out(utterances: Sequence[Utterance], field: str,
                         val_speakers: int | float) -> list[Fold]:
    protocol = {"session": "loso", "speaker": "lospk"}[field]
    utts = _checked_manifest(utterances)
    for needed in dict.fromkeys((field, "speaker")):
        missing = [u.id for u in utts if not getattr(u, needed).strip()]
        if missing:
            raise SplitError(f"{protocol}: {len(missing)} utterance(s) have no {needed}: "
                             f"{listed(missing)}")
    _check_val_speakers(val_speakers)
    groups = sorted({getattr(u, field) for u in utts}, key=_natural_key)
    if len(groups) < 2:
        raise SplitError(f"{protocol} needs at least 2 {field}s, got {len(groups)}: {groups}")
    folds = []
    for index, group in enumerate(groups):
        order = groups[index + 1:] + groups[:index]  # groups after the test one, cyclically
        test = [i for i, u in enumerate(utts) if getattr(u, field) == group]
        rest = [i for i, u in enumerate(utts) if getattr(u, field) != group]
        first_group: dict[str, int] = {}  # speaker -> position of its first group in order
        for i in rest:
            pos = order.index(getattr(utts[i], field))
            first_group[utts[i].speaker] = min(pos, first_group.get(utts[i].speaker, pos))
        speakers = sorted(first_group, key=lambda s: (first_group[s], _natural_key(s)))
        n_val = _n_val_speakers(val_speakers, len(speakers))
        if n_val >= len(speakers):
            raise SplitError(f"{protocol}: fold {field}={group} has {len(speakers)} training "
                             f"speaker(s), too few to hold out {n_val} for validation and "
                             "still train; lower val_speakers")
        held = set(speakers[:n_val])
        val = [i for i in rest if utts[i].speaker in held]
        train = [i for i in rest if utts[i].speaker not in held]
        folds.append(Fold(index, f"{field}={group}", _ids(utts, train), _ids(utts, val),
                          _ids(utts, test)))
    return folds


def _check_val_speakers(val_speakers: int | float) -> None:
    ok_int = isinstance(val_speakers, int) and not isinstance(val_speakers, bool) and val_speakers >= 0
    ok_float = isinstance(val_speakers, float) and 0.0 < val_speakers < 1.0
    if not (ok_int or ok_float):
        raise SplitError("val_speakers must be a count >= 0 or a fraction in (0, 1), "
                         f"got {val_speakers!r}")


def _n_val_speakers(val_speakers: int | float, n_speakers: int) -> int:
    if isinstance(val_speakers, float):
        return max(1, int(val_speakers * n_speakers + 0.5))
    return val_speakers


def _check_one_fold(fold: Fold, by_id: dict[str, Utterance], spec: Protocol | None) -> None:
    """The checks of one fold: known, unrepeated ids, a training part, disjoint parts, and
    the protocol's disjoint fields (``spec`` None: ids only)."""
    parts = {"train": fold.train_ids, "validation": fold.val_ids, "test": fold.test_ids}
    for part, ids in parts.items():
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise SplitError(f"{fold.name}: {part} part has {len(unknown)} id(s) not in the "
                             f"manifest: {listed(unknown)}")
        dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
        if dupes:
            raise SplitError(f"{fold.name}: {part} part repeats id(s) {listed(dupes)}")
    if not fold.train_ids:
        raise SplitError(f"{fold.name}: empty train part")
    names = list(parts)
    for a in range(3):
        for b in range(a + 1, 3):
            shared = sorted(set(parts[names[a]]) & set(parts[names[b]]))
            if shared:
                raise LeakageError(f"{fold.name}: {len(shared)} utterance(s) in both "
                                   f"{names[a]} and {names[b]}: {listed(shared)}")
    for field in spec.test_disjoint if spec else ():
        _check_disjoint(fold, field, by_id, fold.test_ids, fold.train_ids + fold.val_ids,
                        "test", "train/validation")
    for field in spec.val_disjoint if spec else ():
        _check_disjoint(fold, field, by_id, fold.val_ids, fold.train_ids, "validation", "train")


def _check_disjoint(fold: Fold, field: str, by_id: dict[str, Utterance], ids_a: Sequence[str],
                    ids_b: Sequence[str], name_a: str, name_b: str) -> None:
    shared = {getattr(by_id[i], field) for i in ids_a} & {getattr(by_id[i], field) for i in ids_b}
    if shared:
        raise LeakageError(f"{fold.name}: {field}(s) {listed(sorted(shared))} in both "
                           f"{name_a} and {name_b}")


def _ids(utts: Sequence[Utterance], indices: Iterable[int]) -> tuple[str, ...]:
    return tuple(utts[i].id for i in sorted(int(i) for i in indices))


def _natural_key(text: str) -> tuple:
    """Sort "s2" before "s10": digit runs compare as numbers."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text))
