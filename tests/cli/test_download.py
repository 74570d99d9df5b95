"""``sertk download``: prints the digest, pins it, fails cleanly, honours its time limits and
leaves no temporary files when interrupted (file:// archives and a slow server on 127.0.0.1)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sertk.cli import main
from sertk.data.download import CORPORA, EMODB
from tests.data.archives import corpus_members, zip_bytes
from tests.data.slow_server import SlowServer

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def slow():
    srv = SlowServer()
    yield srv
    srv.close()


@pytest.mark.parametrize("option", ["--timeout", "--stall-timeout"])
@pytest.mark.parametrize("value", ["0", "-5", "inf", "nan", "soon"])
def test_time_limits_must_be_positive_seconds(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exc:
        main(["download", "emodb", "--to", str(tmp_path / "d"), option, value])
    assert exc.value.code == 2 and option in capsys.readouterr().err


def test_stall_timeout_option_stops_a_trickle_with_one_line(slow, tmp_path, capsys):
    dest = tmp_path / "emodb"
    code = main(["download", "emodb", "--to", str(dest), "--quiet", "--stall-timeout", "0.5",
                 "--url", slow.url("trickle/100000/1/0.05")])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stalled" in err[0] and "--stall-timeout" in err[0]
    assert not dest.exists()


def test_timeout_option_bounds_the_whole_download(slow, tmp_path, capsys):
    code = main(["download", "emodb", "--to", str(tmp_path / "emodb"), "--quiet",
                 "--timeout", "1", "--url", slow.url("trickle/40000000/4096/0.05")])
    assert code == 1
    assert "took longer than the time limit of 1 s" in capsys.readouterr().err


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_download_leaves_no_temporary_files(slow, tmp_path, signum, code):
    """``sertk download`` in a child process, killed while the archive trickles in."""
    dest = tmp_path / "emodb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # SIGINT as a terminal leaves it: a test runner started in the background inherits it
    # ignored (the shell's rule for background jobs), and Python then keeps it ignored
    child = subprocess.Popen(
        [sys.executable, "-m", "sertk", "download", "emodb", "--to", str(dest), "--quiet",
         "--stall-timeout", "600", "--url", slow.url("trickle/1000000/16/0.02")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    sent_before = slow.sent
    try:
        for _ in range(6000):  # until the partial archive exists and bytes are flowing
            parts = list(dest.glob(".sertk-download-*.part")) if dest.is_dir() else []
            if parts and slow.sent > sent_before:
                break
            assert child.poll() is None, child.communicate()
            time.sleep(0.01)
        else:
            pytest.fail("the download never started")
        assert list(dest.glob(".sertk-extract-*"))  # both temporaries exist now
        child.send_signal(signum)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == code, err
    assert "Traceback" not in err
    assert not dest.exists() or sorted(p.name for p in dest.iterdir()) == []
