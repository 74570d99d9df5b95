"""The Lightning resume state of an interrupted fold: written atomically, loaded as plain data.

``FOLD_DIR/resume/last.ckpt`` is a ``torch.save`` file (a pickle) rewritten at the end of
every epoch.

Writing (:class:`AtomicCheckpointIO`): Lightning's own writer moves a temporary file from the
system's temp folder, across filesystems a copy, so a full disk leaves a torn
``last.ckpt``. Ours writes a temporary file beside it, fsyncs it and renames it over the old
one (:func:`sertk.fileio.atomic_open`): the file is always one whole epoch's state, and a
full disk leaves the old state and an error naming the file.

Loading (:func:`usable_resume_state`): run directories get copied and shared, so the file is
never unpickled freely. Lightning loads it with ``weights_only=True`` (torch's restricted
unpickler: tensors, numbers, strings and containers; no imports, no calls), and the same
load is tried first: a file that fails it (torn by an older version or a filesystem crash,
or holding anything but plain data, such as a crafted payload, which never runs) is set
aside under a new name in the fold's folder with a notice, and the fold trains again from
its start instead of refusing to run.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from sertk.fileio import atomic_open

log = logging.getLogger(__name__)

SET_ASIDE_STEM = "resume-set-aside"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoints, written whole or not at all in their own folder."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None
                        ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with atomic_open(path, "wb") as fh:  # temporary beside it, fsync, os.replace
            fh.write(buffer.getbuffer())


def usable_resume_state(path: str | Path, *, set_aside: bool = True) -> Path | None:
    """``path`` if it holds plain training state (``torch.load(weights_only=True)`` works),
    else None: a missing file, or an unusable one, which with ``set_aside`` (DDP rank 0, the
    writer) is renamed out of the way with a logged notice naming both names."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        torch.load(path, map_location="cpu", weights_only=True)
        return path
    except Exception as err:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        reason = _reason(err)
    if not set_aside:
        return None
    aside = _free_name(path.parent.parent / SET_ASIDE_STEM)
    path.replace(aside)
    log.warning("%s: not usable training state (%s); set aside as %s, and this fold trains "
                "again from its start", path, reason, aside)
    return None


def _free_name(stem: Path) -> Path:
    """``<stem>.ckpt``, or ``<stem>-2.ckpt``, ... : a name nothing holds yet."""
    candidate, n = stem.with_name(stem.name + ".ckpt"), 1
    while candidate.exists():
        n += 1
        candidate = stem.with_name(f"{stem.name}-{n}.ckpt")
    return candidate


def _reason(err: Exception) -> str:
    """The informative line of torch's (long) message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "unsupported" in line.lower():
            return line.rstrip(".")
    return (lines[0] if lines else type(err).__name__)[:200].rstrip(".")
