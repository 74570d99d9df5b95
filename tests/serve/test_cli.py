"""``sertk serve`` usage errors: one line, exit status 2, no server started."""
from __future__ import annotations

import pytest

from sertk.cli import main


@pytest.mark.parametrize("args, words", [
    (["--pool", "0"], "pool out of range: 0"),
    (["--timeout", "-1"], "timeout out of range"),
    (["--port", "70000"], "port out of range"),
    (["--model", "no/such/checkpoint"], "checkpoint not found"),
    (["--int8", "--bf16"], "choose one"),
])
def test_usage_errors_exit_2_with_one_line(capsys, args, words):
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sertk serve: error:") and words in err and "\n" not in err
