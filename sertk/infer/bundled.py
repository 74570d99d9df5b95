"""Where bundled (pretrained) models live and how a name or path becomes a checkpoint.

A bundled model is a checkpoint directory (as written by
:func:`sertk.models.save_checkpoint`) under ``sertk/pretrained/<name>/``, shipped as
package data. ``emodb`` is the default: a model trained on EmoDB.
"""
from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
DEFAULT_MODEL = "emodb"
CONFIG_NAME = "config.json"  # what makes a directory a checkpoint (sertk.models.checkpoint)


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

    ``None`` means the default bundled model (``"emodb"``). A checkpoint directory
    at that path wins over a bundled model of the same name; a bundled model wins
    over a path that is not a checkpoint (say, a data folder called ``emodb``).

    Raises:
        ModelNotFoundError: the path does not exist and no bundled model has that
            name; the message lists the bundled models that are installed.
    """
    if path_or_name is None:
        path_or_name = DEFAULT_MODEL
    path = Path(path_or_name).expanduser()
    name = str(path_or_name)
    bundled = PRETRAINED_DIR / name if _is_name(name) else None
    has_bundled = bundled is not None and bundled.is_dir() and any(bundled.iterdir())
    if path.exists() and ((path / CONFIG_NAME).is_file() or not has_bundled):
        return path
    if has_bundled:
        return bundled
    if bundled is not None:
        available = ", ".join(list_bundled()) or "none installed"
        raise ModelNotFoundError(
            f"no checkpoint at {name!r} and no bundled model of that name in {PRETRAINED_DIR} "
            f"(bundled models: {available}); pass a checkpoint directory written by "
            f"`sertk train`")
    raise ModelNotFoundError(f"{name}: checkpoint not found")


def _is_name(text: str) -> bool:
    return bool(text) and "/" not in text and "\\" not in text and text not in (".", "..")
