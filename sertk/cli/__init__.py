"""The ``sertk`` command line: thin subcommands, one module each.

Every subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``;
its docstring's first line is the help text. Each ``run`` parses nothing itself
and calls one library function that is also usable from Python. An ``OSError`` that
a command does not handle itself (a full disk, an unwritable output folder) becomes
one line naming the path and the reason, and exit status 1.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from sertk.fileio import os_error_message

COMMANDS = {
    "prepare": "sertk.cli.prepare",
    "download": "sertk.cli.download",
    "models": "sertk.cli.models",
    "train": "sertk.cli.train",
    "cv": "sertk.cli.cv",
    "report": "sertk.cli.report",
    "compare": "sertk.cli.compare",
    "ablate": "sertk.cli.ablate",
    "predict": "sertk.cli.predict",
    "embed": "sertk.cli.embed",
    "export": "sertk.cli.export",
    "serve": "sertk.cli.serve",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sertk", description="Speech emotion recognition toolkit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:  # not written yet
                continue
            raise
        doc = (module.__doc__ or name).strip().splitlines()[0]
        cmd = sub.add_parser(name, help=doc, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a full disk, a read-only or missing folder: one line, no traceback
        print(f"sertk {args.command}: error: {os_error_message(err)}", file=sys.stderr)
        return 1
