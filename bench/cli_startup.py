"""Command-line start-up: `sertk --help` and `sertk X --help` against `import torch`.

Each command runs in a fresh interpreter ``--repeats`` times (median wall seconds) and is
reported as a ratio to ``python -c "import torch"`` timed the same way, so a busy or slow
machine changes the seconds but hardly the ratios. With ``--before REV`` the same commands
are also timed on the package as it was at git revision REV (exported to a temporary
folder), which gives the before/after of a change in one run on one machine.

    python bench/cli_startup.py --before eacb46a     # ~2 min on 2 cores
    python bench/cli_startup.py --quick              # smoke test
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import benchlib

NAME = "cli_startup"
COMMANDS = {"sertk --help": ["--help"], "sertk predict --help": ["predict", "--help"],
            "sertk train --help": ["train", "--help"]}
# run the CLI from `tree` (None: the installed package), bypassing the editable install's
# import hook so that an exported older tree is the one imported
RUNNER = """import sys
tree = sys.argv[1]
if tree:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
    sys.path.insert(0, tree)
from sertk.cli import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
"""


def time_process(argv: list[str], repeats: int) -> float:
    """Median wall seconds of running ``argv`` to completion (output discarded)."""
    def once() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    return benchlib.median_time(once, repeats, warmup=1)


def export_tree(rev: str, folder: Path) -> Path:
    """The ``sertk`` package of git revision ``rev``, unpacked into ``folder``."""
    archive = folder / "tree.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(benchlib.REPO), "archive", rev, "sertk"], stdout=fh,
                       check=True)
    with tarfile.open(archive) as tf:
        tf.extractall(folder / "tree", filter="data")
    return folder / "tree"


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    p.add_argument("--before", default=None, metavar="REV",
                   help="also time the package as it was at this git revision")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 1
    machine = benchlib.setup(args)
    torch_s = time_process([sys.executable, "-c", "import torch"], args.repeats)
    rows = [{"version": "-", "command": 'python -c "import torch"', "median_s": torch_s,
             "ratio_vs_import_torch": 1.0}]
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("current", "")]
        if args.before:
            trees.insert(0, (f"before ({args.before})", str(export_tree(args.before, Path(tmp)))))
        for version, tree in trees:
            for name, cli_args in COMMANDS.items():
                seconds = time_process([sys.executable, "-c", RUNNER, tree, *cli_args],
                                       args.repeats)
                rows.append({"version": version, "command": name, "median_s": seconds,
                             "ratio_vs_import_torch": seconds / torch_s})
    return benchlib.finish(args, NAME, machine, rows,
                           ["version", "command", "median_s", "ratio_vs_import_torch"],
                           repeats=args.repeats, before=args.before)


if __name__ == "__main__":
    main()
