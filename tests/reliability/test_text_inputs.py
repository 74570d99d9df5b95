"""Text a user hands to sertk is read the same with or without a UTF-8 byte-order mark.

Windows editors and Excel's "CSV UTF-8" start a file with U+FEFF. Read as plain UTF-8 it is
glued to the first column name (``\\ufeffid``), so a manifest "has no id"; JSON and TOML
refuse it outright. Every reader of user text (manifests as CSV and JSON lines, ``prepare
csv`` lists, ``predict`` list files, recipe files in YAML, JSON and TOML, a run's saved
config) goes through :func:`sertk.fileio.open_text`, and a scan of the package holds that.
"""
from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path

import pytest

import sertk
from sertk.cli import main
from sertk.data.folder import prepare_csv
from sertk.data.manifest import read_manifest
from sertk.fileio import read_text
from sertk.infer.paths import collect_audio_paths
from sertk.train.config import read_config_file
from tests.data.bad_audio import write_wav
from tests.reliability.conftest import TINY_CV

BOM = "\ufeff".encode()
PACKAGE = Path(sertk.__file__).parent


def _with_bom(path: Path, text: str) -> Path:
    path.write_bytes(BOM + text.encode("utf-8"))
    return path


def _csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_read_text_drops_the_mark_and_nothing_else(tmp_path):
    assert read_text(_with_bom(tmp_path / "a.txt", "\ufeffx\n")) == "\ufeffx\n"  # only the first
    (tmp_path / "b.txt").write_text("plain ünïcode\n", encoding="utf-8")
    assert read_text(tmp_path / "b.txt") == "plain ünïcode\n"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifests_with_a_bom_read_like_without(tmp_path, suffix):
    rows = [{"id": "u1", "path": "/x/1.wav", "label": "happy"},
            {"id": "u2", "path": "/x/2.wav", "label": "sad"}]
    text = (_csv_text(rows) if suffix == ".csv"
            else "".join(json.dumps(r) + "\n" for r in rows))
    plain = tmp_path / f"plain{suffix}"
    plain.write_text(text, encoding="utf-8")
    marked = _with_bom(tmp_path / f"marked{suffix}", text)
    assert read_manifest(marked) == read_manifest(plain)
    assert [u.id for u in read_manifest(marked)] == ["u1", "u2"]


def test_prepare_csv_with_a_bom(tmp_path):
    wavs = [write_wav(tmp_path / f"{k}.wav") for k in range(2)]
    listing = _with_bom(tmp_path / "list.csv", _csv_text(
        [{"id": "a", "path": wavs[0].name, "label": "x"},
         {"id": "b", "path": wavs[1].name, "label": "y"}]))
    assert [u.id for u in prepare_csv(listing)] == ["a", "b"]


@pytest.mark.parametrize("suffix", [".txt", ".lst"])
def test_predict_list_files_with_a_bom(tmp_path, suffix):
    (tmp_path / "one.wav").write_bytes(b"")
    listing = _with_bom(tmp_path / f"files{suffix}", "one.wav\n# comment\n")
    assert collect_audio_paths([listing]) == [tmp_path / "one.wav"]


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "model: base7\nlr: 0.01\n"),
    (".yml", "model: base7\nlr: 0.01\n"),
    (".json", '{"model": "base7", "lr": 0.01}'),
    (".toml", 'model = "base7"\nlr = 0.01\n'),
])
def test_recipe_files_with_a_bom(tmp_path, suffix, text):
    assert read_config_file(_with_bom(tmp_path / f"recipe{suffix}", text)) == {
        "model": "base7", "lr": 0.01}


def test_cv_on_a_manifest_with_a_bom(wav_corpus, tmp_path, capsys):
    """The issue's case: Excel saved the manifest; `sertk cv` said "missing id"."""
    _, manifest = wav_corpus
    marked = _with_bom(tmp_path / "excel.csv", manifest.read_text(encoding="utf-8"))
    recipe = _with_bom(tmp_path / "recipe.yaml", "max_epochs: 1\n")
    code = main(["cv", "--manifest", str(marked), *TINY_CV, "--config", str(recipe),
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "fold-00" / "metrics.json").is_file()


# --- the principle: one reader of user text ------------------------------------------------

def _opens_text_for_reading(call: ast.Call) -> bool:
    """``open(path)`` / ``open(path, "r", ...)``, ``x.open(..., encoding=...)`` or
    ``x.read_text(...)``: a text file decoded for reading."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "read_text":
        return True
    builtin = isinstance(func, ast.Name) and func.id == "open"
    method = isinstance(func, ast.Attribute) and func.attr == "open" and any(
        k.arg == "encoding" for k in call.keywords)
    if not (builtin or method):
        return False
    modes = [a.value for a in call.args[1:2] if isinstance(a, ast.Constant)]
    modes += [k.value.value for k in call.keywords
              if k.arg == "mode" and isinstance(k.value, ast.Constant)]
    mode = modes[0] if modes else "r"
    return "b" not in mode and not any(c in mode for c in "wax+")


def test_every_text_read_goes_through_fileio():
    """No module decodes a text file itself (so none can forget the byte-order mark)."""
    offenders = []
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE).as_posix()
        if rel == "fileio.py":
            continue
        for node in ast.walk(ast.parse(file.read_text(), rel)):
            if isinstance(node, ast.Call) and _opens_text_for_reading(node):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
