"""``sertk download``: prints the digest, pins it, and fails cleanly (local file:// archives)."""
from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from sertk.cli import main
from sertk.data.download import CORPORA, EMODB
from tests.data.archives import corpus_members, zip_bytes


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """A 3-file EmoDB look-alike; the emodb spec is pointed at it and expects 3 files."""
    path = tmp_path / "download.zip"
    path.write_bytes(zip_bytes(corpus_members(3)))
    monkeypatch.setitem(CORPORA, "emodb", replace(EMODB, url=path.as_uri(), expected_files=3))
    return path


def test_download_prints_the_sha256(archive, tmp_path, capsys):
    dest = tmp_path / "emodb"
    assert main(["download", "emodb", "--to", str(dest), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"sha256 {hashlib.sha256(archive.read_bytes()).hexdigest()}" in out
    assert f"3 audio files in {dest / 'wav'}" in out
    assert len(list((dest / "wav").glob("*.wav"))) == 3


def test_pinned_sha256_and_url_options(archive, tmp_path, capsys):
    copy = tmp_path / "mirror.zip"
    copy.write_bytes(archive.read_bytes())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "emodb"
    code = main(["download", "emodb", "--to", str(dest), "--quiet", "--sha256", digest,
                 "--url", copy.as_uri()])
    assert code == 0
    assert copy.as_uri() in capsys.readouterr().out


def test_checksum_mismatch_fails_and_leaves_nothing(archive, tmp_path, capsys):
    dest = tmp_path / "emodb"
    code = main(["download", "emodb", "--to", str(dest), "--quiet", "--sha256", "f" * 64])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "SHA-256 mismatch" in err
    assert not dest.exists()


def test_unknown_corpus_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["download", "iemocap", "--to", str(tmp_path)])
    assert exc.value.code == 2
