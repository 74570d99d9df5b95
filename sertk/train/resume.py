"""The Lightning resume state of an interrupted fold is loaded as plain data, never as code.

``FOLD_DIR/resume/last.ckpt`` is a ``torch.save`` file, that is, a pickle. Run directories
get copied and shared, so it is never unpickled freely: Lightning loads it with
``weights_only=True`` (torch's restricted unpickler: tensors, numbers, strings and
containers; no imports, no calls). :func:`check_resume_state` makes that same restricted
load before training starts, so a file holding anything else (a crafted payload, a torn
write) is refused with one error naming it, not a traceback from inside Lightning.
"""
from __future__ import annotations

from pathlib import Path

import torch

from sertk.models import CheckpointError


def check_resume_state(path: str | Path) -> None:
    """Raise :class:`~sertk.models.CheckpointError` naming ``path`` unless it loads with
    ``torch.load(weights_only=True)``."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        raise CheckpointError(path, f"refused to resume from this file: it is not plain "
                                    f"training state ({_reason(err)}); delete it to train the "
                                    "fold again from the start") from None


def _reason(err: Exception) -> str:
    """The informative line of torch's (long) message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "unsupported" in line.lower():
            return line.rstrip(".")
    return (lines[0] if lines else type(err).__name__)[:200].rstrip(".")
