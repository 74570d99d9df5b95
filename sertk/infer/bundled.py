"""Where bundled (pretrained) models live and how a name or path becomes a checkpoint.

A bundled model is a checkpoint directory (as written by
:func:`sertk.models.save_checkpoint`) under ``sertk/pretrained/<name>/``, shipped as
package data. ``emodb`` is the default: a model trained on EmoDB.
"""
from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
DEFAULT_MODEL = "emodb"


class ModelNotFoundError(FileNotFoundError):
    """Neither a checkpoint path nor an installed bundled model."""


def list_bundled() -> list[str]:
    """Names of the bundled models present in this installation, sorted."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and any(p.iterdir()))


def resolve_model(path_or_name: str | Path | None = None) -> Path:
    """The checkpoint directory for a path or a bundled model's name.

    ``None`` means the default bundled model (``"emodb"``). An existing path wins
    over a bundled name.

    Raises:
        ModelNotFoundError: the path does not exist and no bundled model has that
            name; the message lists the bundled models that are installed.
    """
    if path_or_name is None:
        path_or_name = DEFAULT_MODEL
    path = Path(path_or_name).expanduser()
    if path.exists():
        return path
    name = str(path_or_name)
    if "/" not in name and "\\" not in name:
        bundled = PRETRAINED_DIR / name
        if bundled.is_dir() and any(bundled.iterdir()):
            return bundled
        available = ", ".join(list_bundled()) or "none installed"
        raise ModelNotFoundError(
            f"no checkpoint at {name!r} and no bundled model of that name in {PRETRAINED_DIR} "
            f"(bundled models: {available}); pass a checkpoint directory written by "
            f"`sertk train`")
    raise ModelNotFoundError(f"{name}: checkpoint not found")
