"""What ``GET /model`` says about the model: labels, rate, and its model card in brief.

A checkpoint directory may hold a model card, ``README.md`` (the bundled ``emodb`` does):
paragraphs that open with a bold title (``**Data.** ...``) and a ``**Limits.**`` list.
:func:`model_summary` returns those paragraphs by title, the limits as a list, and the
card's full Markdown; a checkpoint without a card gets ``card: null``.
"""
from __future__ import annotations

import re
from pathlib import Path

from sertk.fileio import read_text

CARD_NAME = "README.md"
_TITLED = re.compile(r"^\*\*(?P<title>[^*]+?)\.?\*\*\s*(?P<body>.*)$", re.S)


def read_card(folder: Path | None) -> dict | None:
    """The model card of the checkpoint in ``folder``: ``{"title", "sections", "limits",
    "markdown"}``, or None when there is none."""
    if folder is None or not (Path(folder) / CARD_NAME).is_file():
        return None
    text = read_text(Path(folder) / CARD_NAME, errors="replace")
    title = ""
    sections: dict[str, str] = {}
    limits: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if block.startswith("# "):
            title = block[2:].strip()
            continue
        match = _TITLED.match(block)
        if not match:
            continue
        name, body = match["title"].strip(), match["body"].strip()
        items = [line[2:].strip() for line in _bullets(body)]
        if name.lower() == "limits":
            limits = items
        sections[name] = " ".join(body.split()) if not items else "\n".join(items)
    return {"title": title, "sections": sections, "limits": limits, "markdown": text}


def _bullets(body: str) -> list[str]:
    """The items of a Markdown ``- `` list (continuation lines joined)."""
    items: list[str] = []
    for line in body.splitlines():
        if line.startswith("- "):
            items.append(line.strip())
        elif items and line.startswith(" "):
            items[-1] += " " + line.strip()
    return items


def model_summary(predictor, name: str) -> dict:
    """The ``GET /model`` body for ``predictor`` loaded from ``name``."""
    cfg = predictor.feature_config
    folder = getattr(predictor.checkpoint, "path", None)
    return {
        "name": name,
        "architecture": predictor.model_name,
        "labels": list(predictor.labels),
        "sample_rate": cfg.sample_rate,
        "max_seconds": cfg.max_seconds,
        "voice_activity_detection": predictor.vad is not None,
        "precision": predictor.precision,
        "card": read_card(folder),
    }
