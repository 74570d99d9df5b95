"""bench/cli_startup.py times `sertk --help` and friends against `import torch`."""
import subprocess

from tests.bench.checks import assert_positive
from tests.bench.conftest import REPO


def test_cli_startup_quick(run_bench):
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    result = run_bench("cli_startup", "--before", head)
    rows = result["rows"]
    assert rows[0]["command"] == 'python -c "import torch"' and rows[0]["ratio_vs_import_torch"] == 1
    assert [r["command"] for r in rows[1:4]] == ["sertk --help", "sertk predict --help",
                                                 "sertk train --help"]
    assert [r["version"] for r in rows[1:]] == [f"before ({head})"] * 3 + ["current"] * 3
    assert_positive(rows, "median_s", "ratio_vs_import_torch")
