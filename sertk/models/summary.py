"""The model table: what each registered model changes, its size and its CPU speed.

``sertk models`` prints :func:`format_model_table` of :func:`summarize_models`. Timings are
the median of a few eval-mode, no-grad forward passes over one utterance, on this machine.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from sertk.audio import MAX_SECONDS
from sertk.features import FeatureConfig
from sertk.models.registry import create_model, describe_model, list_models, model_requires
from sertk.tables import text_table

UTTERANCE_FRAMES = FeatureConfig().max_frames  # 401 frames = one 4 s utterance


@dataclass(frozen=True)
class ModelSummary:
    """One row of the model table; ``forward_ms`` is None when timing was skipped;
    ``n_params`` is None for a model that needs more than ``n_classes`` (an SSL encoder)."""

    name: str
    description: str
    n_params: int | None
    forward_ms: float | None


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameter values (buffers excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def time_forward(model: torch.nn.Module, n_mels: int, n_frames: int, repeats: int = 5) -> float:
    """Median milliseconds of ``repeats`` forward passes on one (1, n_mels, n_frames) input
    in eval mode, after one warm-up pass."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    model.eval()
    x = torch.randn(1, n_mels, n_frames)
    model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def summarize_models(n_classes: int = 4, n_frames: int = UTTERANCE_FRAMES, repeats: int = 5,
                     names: list[str] | None = None, timing: bool = True) -> list[ModelSummary]:
    """One :class:`ModelSummary` per model in ``names`` (default: all registered)."""
    rows = []
    for name in names or list_models(all_models=True):
        needs = model_requires(name)
        if needs:  # not built: it needs an encoder, which may be a download
            rows.append(ModelSummary(name, f"{describe_model(name)} (needs {needs})", None, None))
            continue
        model = create_model(name, n_classes=n_classes)
        ms = time_forward(model, model.config.n_mels, n_frames, repeats) if timing else None
        rows.append(ModelSummary(name, describe_model(name), count_parameters(model), ms))
    return rows


def format_model_table(rows: list[ModelSummary], n_frames: int = UTTERANCE_FRAMES,
                       threads: int | None = None) -> str:
    """A plain-text table with one line per model; ``threads`` is noted in the time header."""
    seconds = n_frames * MAX_SECONDS / UTTERANCE_FRAMES
    threads_note = "" if threads is None else f", {threads} thread{'s' * (threads != 1)}"
    time_header = f"CPU ms ({n_frames} frames = {seconds:.1f} s{threads_note})"
    header = ("model", "what it changes", "parameters", time_header)
    lines = [(r.name, r.description, "-" if r.n_params is None else f"{r.n_params:,}",
              "-" if r.forward_ms is None else f"{r.forward_ms:.1f}") for r in rows]
    return text_table([header, *lines], right={2, 3}, rule=True)
