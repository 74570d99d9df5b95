"""How a command's failure reaches the user: one line on stderr and an exit status.

:func:`exit_status` maps an exception to the status the CLI returns (``None``: a bug, let
the traceback show): a user's mistake (a bad recipe, manifest, split, cache, run
directory, checkpoint or device request) is 2, a training stopped by SIGTERM 143, an
``OSError`` nobody handled (a full disk, an unwritable folder) 1. :func:`error_line`
writes ``sertk COMMAND: error: MESSAGE``. The error classes are imported when an error
happens, so building the parser imports none of their modules.
"""
from __future__ import annotations

from sertk.fileio import os_error_message

INTERRUPTED = 143  # the shell's status for SIGTERM


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions caused by the user's input: printed as one line, exit status 2."""
    from sertk.data.cache import FeatureCacheError
    from sertk.data.manifest import ManifestError
    from sertk.data.splits import SplitError
    from sertk.devices import DeviceError
    from sertk.eval.rundir import ReportError
    from sertk.models.checkpoint import CheckpointError
    from sertk.train.config import ConfigError

    return (ConfigError, ManifestError, SplitError, FeatureCacheError, ReportError,
            CheckpointError, DeviceError)


def exit_status(err: BaseException) -> int | None:
    """2 for a user error, 143 for an interrupted training, 1 for an ``OSError``; else None."""
    from sertk.train.errors import TrainingInterrupted

    if isinstance(err, TrainingInterrupted):
        return INTERRUPTED
    if isinstance(err, user_errors()):
        return 2
    if isinstance(err, OSError):
        return 1
    return None


def error_line(command: str, err: BaseException) -> str:
    """``sertk COMMAND: error: MESSAGE`` (an ``OSError`` as ``PATH: REASON``)."""
    message = os_error_message(err) if isinstance(err, OSError) else str(err)
    return f"sertk {command}: error: {message}"
