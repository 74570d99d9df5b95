"""The ``sertk`` command line: thin subcommands, one module each.

Every subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``;
its docstring's first line is the help text. Each ``run`` parses nothing itself
and calls one library function that is also usable from Python. Subcommand modules
import their heavy dependencies (Lightning, matplotlib, scikit-learn, pandas, FastAPI,
...) inside ``run``, so ``sertk --help`` and ``sertk X --help`` load none of them
(tests/cli/test_startup.py). A failure a command does not handle itself becomes one
line and an exit status (:mod:`sertk.cli.errors`: 2 for user errors, 143 for an
interrupted training, 1 for an ``OSError`` such as a full disk).

Global flags: ``--version``, ``--quiet`` (warnings and errors only, no progress bars)
and ``--verbose`` (debug messages), given before the command.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import logging
import os
import sys
from typing import Iterator

from sertk.cli.errors import error_line, exit_status

COMMANDS = {
    "prepare": "sertk.cli.prepare",
    "download": "sertk.cli.download",
    "models": "sertk.cli.models",
    "train": "sertk.cli.train",
    "cv": "sertk.cli.cv",
    "report": "sertk.cli.report",
    "compare": "sertk.cli.compare",
    "fuse": "sertk.cli.fuse",
    "publish": "sertk.cli.publish",
    "evaluate": "sertk.cli.evaluate",
    "ablate": "sertk.cli.ablate",
    "study": "sertk.cli.study",
    "predict": "sertk.cli.predict",
    "embed": "sertk.cli.embed",
    "export": "sertk.cli.export",
    "serve": "sertk.cli.serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sertk", description="Speech emotion recognition toolkit.")
    parser.add_argument("--version", action="version",
                        version=f"sertk {importlib.metadata.version('sertk')}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                          default=0, help="warnings and errors only, no progress bars")
    loudness.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                          help="debug messages too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or name).strip().splitlines()[0]
        cmd = sub.add_parser(name, help=doc, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message comes (it may be replaced)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbosity: int) -> None:
    """sertk's messages on stderr: INFO by default (a line per fold, notices), WARNING with
    --quiet, DEBUG with --verbose."""
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity]
    logger = logging.getLogger("sertk")
    logger.setLevel(min(level, logging.INFO))  # run.log keeps INFO whatever the console shows
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    handler.setLevel(level)


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """No progress bars in the block unless ``enabled`` (tqdm's ``TQDM_DISABLE``, which
    Lightning's bars obey too)."""
    before = os.environ.get("TQDM_DISABLE")
    if not enabled:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbosity)
    try:
        with progress_bars(args.verbosity >= 0):
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a user error or a full disk: one line, no traceback
        status = exit_status(err)
        if status is None:
            raise
        print(error_line(args.command, err), file=sys.stderr)
        return status
