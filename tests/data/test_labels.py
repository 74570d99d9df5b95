"""sertk.data.labels: one normal form for labels, and no two classes that only look different."""
from __future__ import annotations

import unicodedata

import pytest

from sertk.data.labels import LabelConflict, check_label_spellings, label_key, normalise_label
from sertk.data.manifest import ManifestError, Utterance, label_names

COMPOSED, DECOMPOSED = "café", unicodedata.normalize("NFD", "café")


@pytest.mark.parametrize("written,normal", [
    ("anger", "anger"), ("  anger\t", "anger"), ("\u00a0anger\u3000", "anger"),
    (DECOMPOSED, COMPOSED), ("Anger", "Anger"), ("very sad", "very sad"),
])
def test_normal_form(written, normal):
    assert normalise_label(written) == normal
    assert normalise_label(normal) == normal  # idempotent


@pytest.mark.parametrize("a,b", [("Anger", "anger"), ("ANGER", "anger"), ("very  sad", "very sad"),
                                 ("verysad", "very sad"), ("ａnger", "anger"), ("Straße", "strasse")])
def test_variants_share_a_key(a, b):
    assert label_key(a) == label_key(b)


def test_merged_spellings_are_reported_not_silent():
    notice = check_label_spellings([("m.csv:2", "anger"), ("m.csv:3", "anger "),
                                    ("m.csv:4", DECOMPOSED), ("m.csv:5", "sad")])
    assert "'anger ' -> 'anger' (m.csv:3)" in notice
    assert f"{DECOMPOSED!r} -> {COMPOSED!r} (m.csv:4)" in notice
    assert check_label_spellings([("m.csv:2", "anger"), ("m.csv:3", "sad")]) is None


@pytest.mark.parametrize("other", ["Anger", "ANGER ", "an ger", "ａnger"])
def test_case_and_whitespace_variants_are_refused_naming_where(other):
    places = [("m.csv:2", "anger"), ("m.csv:3", "sad"), ("m.csv:4", other), ("m.csv:5", "anger")]
    with pytest.raises(LabelConflict) as err:
        check_label_spellings(places)
    message = str(err.value)
    assert "'anger' (m.csv:2, m.csv:5)" in message
    assert f"{normalise_label(other)!r} (m.csv:4)" in message and "m.csv:3" not in message


def test_long_lists_of_places_are_cut():
    places = [(f"row {i}", "a") for i in range(1000)] + [("row x", "A")]
    message = str(pytest.raises(LabelConflict, check_label_spellings, places).value)
    assert "and 997 more" in message and len(message) < 300


def test_utterances_hold_the_normal_form_and_label_names_refuse_variants():
    assert Utterance("u", "/a.wav", " anger ").label == "anger"
    assert label_names([Utterance("u1", "/1.wav", "sad"), Utterance("u2", "/2.wav", "sad\n")]) == [
        "sad"]
    with pytest.raises(ManifestError, match=r"'Sad' \(id 'u2'\) vs 'sad' \(id 'u1'\)"):
        label_names([Utterance("u1", "/1.wav", "sad"), Utterance("u2", "/2.wav", "Sad")])
