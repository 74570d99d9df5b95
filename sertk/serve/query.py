"""The query options of ``POST /predict``: the options of ``sertk predict``, by the same rules.

=================  ============================  =====================================
query              ``sertk predict``              meaning
=================  ============================  =====================================
``segment=S``      ``--segment S``                windows of S seconds (emotion over time)
``hop=H``          ``--hop H``                    seconds between window starts
``min_last=S``     ``--min-last S``               shortest final partial window
``vad=true``       ``--vad``                      one window per speech region
``no_vad=true``    ``--no-vad``                   no voice activity detection
``min_gap=S``      ``--min-gap S``                with vad: pauses shorter than S merge
``smooth=K``       ``--smooth K``                 mode filter over K windows
``min_duration=S`` ``--min-duration S``           segments shorter than S absorbed
``min_confidence``  ``--min-confidence P``        top probability below P: ``uncertain``
``top_k=K``        ``--top-k K``                  add the K most probable labels (``top``)
=================  ============================  =====================================

Without ``segment`` or ``vad``, a recording longer than the model's ``max_seconds``
(4 s) is cut into windows of ``max_seconds`` every half of that (:data:`AUTO_HOP_FRACTION`),
as ``sertk predict --segment 4 --hop 2`` would, so long audio always gets its timeline;
shorter audio is one utterance, as plain ``sertk predict``.

Any other name (a misspelling, or an option this server does not have) is refused
with 422 naming it, never silently ignored. The same-named rules of the command line
(:func:`sertk.infer.longform.window_options`) decide which combinations are valid.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable

from sertk.infer.longform import DEFAULT_MIN_GAP, SegmentOptions, window_options

FLOATS = ("segment", "hop", "min_last", "min_gap", "min_duration")
INTS = ("smooth", "top_k")
BOOLS = ("vad", "no_vad")
PROBABILITIES = ("min_confidence",)
OPTIONS = FLOATS + INTS + BOOLS + PROBABILITIES
AUTO_HOP_FRACTION = 0.5
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class QueryError(ValueError):
    """A bad query option; the message names it."""


def parse_query(items: Iterable[tuple[str, str]]) -> dict:
    """Query ``(name, value)`` pairs -> typed option values (absent ones left out);
    :class:`QueryError` for an unknown or repeated name, or a value of the wrong type."""
    values: dict = {}
    for name, text in items:
        if name not in OPTIONS:
            raise QueryError(f"unknown query option {name!r} (options: {', '.join(OPTIONS)})")
        if name in values:
            raise QueryError(f"query option {name!r} given more than once")
        values[name] = _convert(name, text)
    return values


def _convert(name: str, text: str):
    if name in BOOLS:
        if text.lower() in _TRUE or text == "":
            return True
        if text.lower() in _FALSE:
            return False
        raise QueryError(f"{name} must be true or false, got {text[:40]!r}")
    try:
        value = int(text) if name in INTS else float(text)
    except ValueError:
        kind = ("an integer" if name in INTS else "a probability in [0, 1]"
                if name in PROBABILITIES else "a number of seconds")
        raise QueryError(f"{name} must be {kind}, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise QueryError(f"{name} must be a finite number, got {text[:40]!r}")
    if name in PROBABILITIES and not 0.0 <= value <= 1.0:
        raise QueryError(f"{name} must be a probability in [0, 1], got {text[:40]!r}")
    if name == "top_k" and value < 1:
        raise QueryError(f"top_k must be >= 1, got {text[:40]!r}")
    return value


def segment_options(values: dict, duration: float | None,
                    max_seconds: float) -> SegmentOptions | None:
    """The window options for ``values`` (from :func:`parse_query`) on audio of ``duration``
    seconds; None means one utterance (the first ``max_seconds``). :class:`QueryError` for a
    combination ``sertk predict`` refuses (``hop`` without ``segment``, ``vad`` with
    ``no_vad``, ...) or a bad smoothing option."""
    segment = values.get("segment")
    if (segment is None and not values.get("vad") and duration is not None
            and duration > max_seconds and "hop" not in values and "min_last" not in values):
        segment = max_seconds
        values = {**values, "segment": segment, "hop": AUTO_HOP_FRACTION * max_seconds}
    try:
        return window_options(segment, values.get("hop"), values.get("min_last"),
                              vad=values.get("vad", False), no_vad=values.get("no_vad", False),
                              min_gap=values.get("min_gap", DEFAULT_MIN_GAP),
                              smooth=values.get("smooth", 1),
                              min_duration=values.get("min_duration", 0.0))
    except ValueError as err:  # the command line's words, with query names
        raise QueryError(re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"),
                                str(err))) from None
