"""Emotion over time: window predictions and speech regions -> a timeline of segments.

Sliding windows overlap (``hop < segment``) or leave gaps, so the timeline first gives every
moment to one window: the boundary between two consecutive windows is the midpoint between their
centres, the first window owns time from its start and the last one up to its end. Time outside
the speech regions of a voice activity detector is ``no-speech`` (exact to the detector's 32 ms
frames, not to the hop); inside them the owning window's label holds. Consecutive pieces with
the same label merge into one :class:`Segment`, whose probabilities are the duration-weighted
mean of its windows'. Time that no window analysed (between windows when ``hop > segment``, or
between speech segments) is ``no-speech`` where the detector found none, and is otherwise left
out of the timeline (segments then have gaps).

Optional smoothing, both off by default:

- ``smooth=k`` (odd): each window takes the most frequent label among the ``k``
  windows centred on it (a median filter for labels; ties keep its own label);
- ``min_duration=s``: an emotion segment shorter than ``s`` seconds takes the label
  of its longer emotion neighbour (never of ``no-speech``).

The whole-recording :class:`Summary` is the share of time each label holds
(``no-speech`` included) and the dominant label: the emotion with the most speech
time, or ``no-speech`` when nobody speaks.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sertk.vad import NO_SPEECH

Regions = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Window:
    """One window's result: ``[start, end)`` seconds, its label and (C,) probabilities
    (None for a ``no-speech`` window)."""

    start: float
    end: float
    label: str
    probabilities: np.ndarray | None


@dataclass(frozen=True)
class Segment:
    """A stretch ``[start, end)`` seconds with one label and its mean (C,) probabilities.

    ``probabilities`` is ``None`` for ``no-speech`` stretches that no window covered.
    """

    start: float
    end: float
    label: str
    probabilities: np.ndarray | None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Summary:
    """Share of the recording's time per label (sums to 1) and the dominant label."""

    shares: dict[str, float]
    dominant: str


@dataclass(frozen=True)
class TimelineOptions:
    """Smoothing of the window labels (see the module docstring); off by default."""

    smooth: int = 1
    min_duration: float = 0.0

    def __post_init__(self):
        if self.smooth < 1 or self.smooth % 2 == 0:
            raise ValueError(f"smooth must be an odd number of windows >= 1, got {self.smooth}")
        if not (np.isfinite(self.min_duration) and self.min_duration >= 0):
            raise ValueError(f"min_duration must be a finite number of seconds >= 0, "
                             f"got {self.min_duration}")


def build_timeline(windows: Sequence[Window], duration: float, regions: Regions | None = None,
                   options: TimelineOptions = TimelineOptions()) -> list[Segment]:
    """Segments covering ``[0, duration)`` in order, from windows in time order.

    ``regions=None`` means no voice activity detection: all time is speech.
    """
    if not windows:
        return [Segment(0.0, duration, NO_SPEECH, None)] if duration > 0 else []
    labels = _mode_filter([w.label for w in windows], options.smooth)
    pieces = []
    for (start, end), window, label in zip(_ownership(windows, duration), windows, labels):
        for a, b, speech in _split_by_speech(start, end, regions):
            pieces.append(Segment(a, b, label if speech else NO_SPEECH,
                                  window.probabilities if speech and label != NO_SPEECH else None))
    if regions is not None:
        pieces = _fill_silent_holes(pieces, duration, regions)
    segments = _merge(pieces)
    if options.min_duration > 0:
        segments = _merge(_absorb_short(segments, options.min_duration))
    return segments


def summarize(segments: Sequence[Segment]) -> Summary:
    """The share of time of each label and the dominant label (see the module docstring)."""
    time: Counter[str] = Counter()
    for segment in segments:
        time[segment.label] += segment.duration
    total = sum(time.values())
    if total <= 0:
        return Summary({NO_SPEECH: 1.0}, NO_SPEECH)
    shares = {label: seconds / total for label, seconds in time.most_common()}
    emotions = [(seconds, label) for label, seconds in time.items() if label != NO_SPEECH]
    return Summary(shares, max(emotions)[1] if emotions else NO_SPEECH)


def format_summary(summary: Summary) -> str:
    """``"neutral 62 %, anger 30 %, no-speech 8 %"``."""
    return ", ".join(f"{label} {100 * share:.0f} %" for label, share in summary.shares.items())


def _ownership(windows: Sequence[Window], duration: float) -> list[tuple[float, float]]:
    starts, ends = [w.start for w in windows], [w.end for w in windows]
    for i in range(1, len(windows)):
        previous, current = windows[i - 1], windows[i]
        if current.start <= previous.end:  # overlapping or touching: meet between centres
            mid = (previous.start + previous.end + current.start + current.end) / 4
            ends[i - 1] = starts[i] = min(max(mid, current.start), previous.end)
    ends[-1] = max(ends[-1], duration)  # a dropped short tail belongs to the last window
    return list(zip(starts, ends))


def _fill_silent_holes(pieces: list[Segment], duration: float, regions: Regions) -> list[Segment]:
    """Time no window analysed is ``no-speech`` where the detector found no speech
    (speech there stays out of the timeline: nobody asked the model about it)."""
    out: list[Segment] = []
    cursor = 0.0
    for piece in [*pieces, Segment(duration, duration, NO_SPEECH, None)]:
        if piece.start > cursor + 1e-9:
            out += [Segment(a, b, NO_SPEECH, None)
                    for a, b, speech in _split_by_speech(cursor, piece.start, regions) if not speech]
        if piece.duration > 0:
            out.append(piece)
        cursor = max(cursor, piece.end)
    return out


def _split_by_speech(start: float, end: float,
                     regions: Regions | None) -> list[tuple[float, float, bool]]:
    if regions is None:
        return [(start, end, True)] if end > start else []
    parts, cursor = [], start
    for a, b in regions:
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        if a > cursor:
            parts.append((cursor, a, False))
        parts.append((a, b, True))
        cursor = b
    if end > cursor:
        parts.append((cursor, end, False))
    return parts


def _merge(pieces: Sequence[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for piece in pieces:
        if piece.duration <= 0:
            continue
        if merged and merged[-1].label == piece.label and abs(merged[-1].end - piece.start) < 1e-9:
            merged[-1] = _join(merged[-1], piece)
        else:
            merged.append(piece)
    return merged


def _join(a: Segment, b: Segment) -> Segment:
    if a.probabilities is None or b.probabilities is None:
        probs = a.probabilities if b.probabilities is None else b.probabilities
    else:
        total = a.duration + b.duration
        probs = (a.probabilities * a.duration + b.probabilities * b.duration) / total
    return Segment(a.start, b.end, a.label, probs)


def _mode_filter(labels: list[str], width: int) -> list[str]:
    """Each emotion window takes the most frequent emotion among the ``width`` windows
    centred on it (ties keep its own); ``no-speech`` windows neither vote nor change."""
    if width == 1:
        return labels
    half = width // 2
    out = []
    for i, own in enumerate(labels):
        near = [x for x in labels[max(0, i - half):i + half + 1] if x != NO_SPEECH]
        if own == NO_SPEECH or not near:
            out.append(own)
            continue
        counts = Counter(near)
        best, top = counts.most_common(1)[0]  # the first of the most frequent
        out.append(own if counts[own] == top else best)
    return out


def _absorb_short(segments: list[Segment], min_duration: float) -> list[Segment]:
    out = list(segments)
    while True:
        short = [i for i, s in enumerate(out)
                 if s.label != NO_SPEECH and s.duration < min_duration
                 and _emotion_neighbour(out, i) is not None]
        if not short:
            return out
        i = min(short, key=lambda k: out[k].duration)
        j = _emotion_neighbour(out, i)
        out[i] = Segment(out[i].start, out[i].end, out[j].label, out[i].probabilities)
        out = _merge(out)


def _emotion_neighbour(segments: list[Segment], i: int) -> int | None:
    candidates = [j for j in (i - 1, i + 1) if 0 <= j < len(segments)
                  and segments[j].label not in (NO_SPEECH, segments[i].label)]
    return max(candidates, key=lambda j: segments[j].duration) if candidates else None
