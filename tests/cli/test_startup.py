"""The command line starts light: no --help loads the heavy libraries, and failures map to
one line and one exit status (sertk.cli.errors)."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

from sertk.cli import COMMANDS, main
from sertk.cli.errors import error_line, exit_status
from sertk.data.manifest import ManifestError
from sertk.train.config import ConfigError
from sertk.train.errors import TrainingInterrupted

HEAVY = ("lightning", "matplotlib", "sklearn", "transformers", "fastapi", "opensmile", "pandas",
         "scipy")

# Every `--help` in one fresh interpreter; after each, the heavy modules then in sys.modules.
PROBE = """
import contextlib, io, json, sys
from sertk.cli import COMMANDS, build_parser
loaded = {}
for argv in [["--help"], *[[name, "--help"] for name in COMMANDS]]:
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pass
    loaded[" ".join(argv)] = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print(json.dumps(loaded))
"""


def test_no_help_imports_a_heavy_library():
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"],
                         capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert set(loaded) == {"--help", *(f"{name} --help" for name in COMMANDS)}
    assert loaded == {argv: [] for argv in loaded}


def test_version_comes_from_the_installed_metadata(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sertk {importlib.metadata.version('sertk')}"


def test_serve_help_states_the_server_defaults(capsys):
    from sertk.serve.options import ServeOptions

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    d = ServeOptions()
    for stated in (f"default {d.host}", f"default {d.port}", f"(default {d.workers})",
                   f"(default {d.pool})", f"(default {d.max_upload_bytes // 1_000_000})",
                   f"(default {d.max_duration:g})", f"(default {d.timeout:g})",
                   f"(default {d.retry_after})", f"(default {d.threads})"):
        assert stated in text


@pytest.mark.parametrize("error, status", [
    (ConfigError("unknown key 'lrr'"), 2), (ManifestError("no rows"), 2),
    (TrainingInterrupted("stopped by SIGTERM"), 143),
    (OSError(28, "No space left on device", "/full/x.csv"), 1),
    (ValueError("a bug"), None)])
def test_each_failure_has_one_exit_status(error, status):
    assert exit_status(error) == status


def test_an_error_is_one_line_naming_the_command():
    assert error_line("cv", ConfigError("unknown key 'lrr'")) == "sertk cv: error: unknown key 'lrr'"
    line = error_line("train", OSError(28, "No space left on device", "/full/x.csv"))
    assert line.startswith("sertk train: error: /full/x.csv") and "\n" not in line


def test_a_user_error_exits_2_with_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    assert main(["cv", "--manifest", str(missing), "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sertk cv: error: ") and str(missing) in err and "\n" not in err
