"""A timeline a person reads at a glance: label bands over time, probability curves below.

Top axis: one coloured band per :class:`~sertk.infer.timeline.Segment` (``no-speech`` in
light grey), labelled where it is wide enough. Bottom axis: each class's probability
at the centre of every window, in the band colours. Drawn on matplotlib's Agg canvas
through the object API (no ``pyplot`` state); the PNG is written atomically.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sertk.fileio import atomic_open
from sertk.infer.timeline import Segment, Window
from sertk.vad import NO_SPEECH

DPI = 120
NO_SPEECH_COLOUR = "#dddddd"


def label_colours(labels: Sequence[str]) -> dict[str, str]:
    """A fixed colour per label (tab10 order), grey for ``no-speech``."""
    palette = [f"C{i % 10}" for i in range(len(labels))]
    return {**dict(zip(labels, palette)), NO_SPEECH: NO_SPEECH_COLOUR}


def plot_timeline(segments: Sequence[Segment], windows: Sequence[Window], labels: Sequence[str],
                  path: str | Path, *, title: str | None = None) -> Path:
    """Write the timeline PNG of one recording to ``path`` and return it."""
    colours = label_colours(labels)
    end = max([s.end for s in segments] + [w.end for w in windows] + [1e-3])
    fig = Figure(figsize=(min(24.0, 6.0 + end / 10), 4.2), layout="constrained")
    bands, curves = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2.4])
    for segment in segments:
        bands.axvspan(segment.start, segment.end, color=colours.get(segment.label, "k"),
                      alpha=0.85 if segment.label != NO_SPEECH else 1.0, lw=0)
        if segment.duration > end * (len(segment.label) + 2) / 100:  # room for the text
            bands.text((segment.start + segment.end) / 2, 0.5, segment.label, ha="center",
                       va="center", fontsize=8, clip_on=True)
    bands.set_yticks([])
    bands.set_ylim(0, 1)
    bands.set_title(title or "emotion over time", fontsize=10)
    if windows:
        centres = np.array([(w.start + w.end) / 2 for w in windows])
        blank = np.full(len(labels), np.nan)  # no-speech windows leave gaps in the curves
        probs = np.stack([blank if w.probabilities is None else w.probabilities
                          for w in windows])  # (windows, C)
        for k, label in enumerate(labels):
            curves.plot(centres, probs[:, k], color=colours[label], lw=1.5, label=label,
                        marker="." if len(windows) < 60 else None)
        curves.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    curves.set_ylim(0, 1)
    curves.set_xlim(0, end)
    curves.set_xlabel("time (s)")
    curves.set_ylabel("probability")
    curves.grid(alpha=0.3)
    FigureCanvasAgg(fig)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    return Path(path)
