"""Class labels as people type them: one normal form, never two classes that only look alike.

Every reader of labels (manifests, ``prepare csv`` lists, folder names, allowed-label lists,
the class list given to ``fit``) passes them through :func:`normalise_label`: surrounding
whitespace stripped, Unicode NFC (so ``"anger "`` and ``"anger"``, or a composed and a
decomposed ``"é"``, are one class). :class:`~sertk.data.manifest.Utterance` applies it itself.

Labels that still differ only by case, inner whitespace or a Unicode compatibility form
(``"Anger"``/``"anger"``, ``"very  sad"``/``"very sad"``, a full-width ``"ａ"``) are refused,
naming where each spelling occurs: which one is meant is the user's call, and a silent guess
would change the class list. :func:`check_label_spellings` reports labels merged by
normalisation as a notice, so that is not silent either.

Example:
    >>> normalise_label("  anger ")
    'anger'
    >>> label_key("Very  Sad") == label_key("very sad")
    True
"""
from __future__ import annotations

import unicodedata
from typing import Iterable

#: How many places a message names for one spelling.
SHOWN_PLACES = 3


class LabelConflict(ValueError):
    """Labels that differ only by case, inner whitespace or Unicode compatibility form."""


def normalise_label(text: str) -> str:
    """``text`` without surrounding whitespace, in Unicode NFC: the form every label has."""
    return unicodedata.normalize("NFC", str(text).strip())


def label_key(label: str) -> str:
    """What two labels share when they differ only by case, whitespace or Unicode form."""
    return "".join(unicodedata.normalize("NFKC", str(label)).casefold().split())


def check_label_spellings(labelled: Iterable[tuple[str, str]]) -> str | None:
    """Check the labels of a corpus or manifest, ``(where, label as written)`` pairs
    (``where`` names the row or file): None, or a one-line notice when labels written
    differently were merged by :func:`normalise_label` (``'anger ' -> 'anger' (file.csv:4)``).

    Raises:
        LabelConflict: naming the spellings and where each occurs, when two normalised labels
            differ only by case, inner whitespace or Unicode compatibility form.
    """
    places: dict[str, dict[str, list[str]]] = {}  # normalised -> {as written: [where]}
    for where, written in labelled:
        places.setdefault(normalise_label(written), {}).setdefault(written, []).append(where)
    by_key: dict[str, list[str]] = {}
    for label in places:
        by_key.setdefault(label_key(label), []).append(label)
    clashes = [sorted(group) for group in by_key.values() if len(group) > 1]
    if clashes:
        described = "; ".join(
            " vs ".join(f"{label!r} ({_places(w for ws in places[label].values() for w in ws)})"
                        for label in group)
            for group in sorted(clashes))
        raise LabelConflict(f"labels differ only by case, whitespace or Unicode form, so they "
                            f"would become separate classes: {described}; write each class "
                            "one way")
    merged = {label: spellings for label, spellings in sorted(places.items())
              if len(spellings) > 1 or next(iter(spellings)) != label}
    if not merged:
        return None
    return "labels normalised (surrounding whitespace, Unicode NFC): " + "; ".join(
        f"{written!r} -> {label!r} ({_places(wheres)})"
        for label, spellings in merged.items() for written, wheres in spellings.items()
        if written != label)


def _places(wheres: Iterable[str]) -> str:
    wheres = list(wheres)
    shown = ", ".join(wheres[:SHOWN_PLACES])
    more = len(wheres) - SHOWN_PLACES
    return shown + (f" and {more} more" if more > 0 else "")
