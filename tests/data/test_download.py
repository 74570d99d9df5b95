"""sertk.data.download against a local HTTP server on 127.0.0.1: never the internet.

Every failure must give a clear error and leave the target folder without partial output.
"""
from __future__ import annotations

import hashlib
import http.server
import os
import socket
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from sertk.data.download import (
    CORPORA,
    EMODB,
    CorpusSpec,
    DownloadError,
    download_corpus,
)
from tests.data.archives import corpus_members, tar_bytes, tar_entry, zip_bomb, zip_bytes
from tests.data.slow_server import SlowServer

SPEC = CorpusSpec(name="tiny", url="http://127.0.0.1:9/unused.zip", audio_dir="wav",
                  expected_files=3)


class _Server:
    """Serves ``files`` (path -> bytes); ``/short/<name>`` announces more bytes than it sends."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                short = self.path.startswith("/short/")
                body = server.files.get(self.path.removeprefix("/short") if short else self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) + (5000 if short else 0)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, name: str, data: bytes) -> str:
        self.files[f"/{name}"] = data
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def dest(tmp_path):
    """A target folder that does not exist yet, inside a parent we can check for escapes."""
    (tmp_path / "parent").mkdir()
    return tmp_path / "parent" / "emodb"


def _assert_clean(dest, before: set[str] | None = None):
    """``dest`` holds what it held before (nothing, or it is gone); nothing escaped beside it."""
    if before is None:
        assert not dest.exists() or not any(dest.iterdir()), sorted(dest.iterdir())
    else:
        assert {p.name for p in dest.iterdir()} == before
    assert sorted(p.name for p in dest.parent.iterdir()) in ([], [dest.name])


def _download(url, dest, spec=SPEC, **kwargs):
    return download_corpus(spec, dest, url=url, progress=False, **{"timeout": 10, **kwargs})


@pytest.mark.parametrize("fmt", ["zip", "tar.gz", "tar"])
def test_good_archive(server, dest, fmt):
    members = corpus_members(3)
    data = zip_bytes(members) if fmt == "zip" else tar_bytes(
        members, compression="gz" if fmt == "tar.gz" else "")
    url = server.add(f"good.{fmt}", data)

    result = _download(url, dest)

    assert result.files == 3 and result.path == dest and result.url == url
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    for name, content in members.items():
        assert (dest / name).read_bytes() == content
    assert sorted(p.name for p in dest.iterdir()) == ["erklaerung.txt", "wav"]  # no temp files


def test_archive_with_a_top_folder_is_unwrapped(server, dest):
    url = server.add("wrapped.zip", zip_bytes(corpus_members(3, top="emodb/"), dirs=()))
    _download(url, dest)
    assert len(list((dest / "wav").glob("*.wav"))) == 3


def test_pinned_checksum_accepts_the_right_archive(server, dest):
    data = zip_bytes(corpus_members(3))
    url = server.add("pinned.zip", data)
    result = _download(url, dest, sha256=hashlib.sha256(data).hexdigest().upper())
    assert result.files == 3


def test_checksum_mismatch_extracts_nothing(server, dest):
    url = server.add("tampered.zip", zip_bytes(corpus_members(3)))
    with pytest.raises(DownloadError, match="SHA-256 mismatch") as err:
        _download(url, dest, sha256="0" * 64)
    assert url in str(err.value)
    _assert_clean(dest)


def test_spec_checksum_is_enforced(server, dest):
    url = server.add("spec-pinned.zip", zip_bytes(corpus_members(3)))
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        _download(url, dest, spec=replace(SPEC, sha256="ab" * 32))
    _assert_clean(dest)


def test_malformed_checksum_is_refused_before_downloading(server, dest):
    url = server.add("unfetched.zip", zip_bytes(corpus_members(3)))
    with pytest.raises(DownloadError, match="64 hex digits"):
        _download(url, dest, sha256="abc")
    assert "/unfetched.zip" not in server.requests
    _assert_clean(dest)


def test_wrong_file_count(server, dest):
    url = server.add("short-corpus.zip", zip_bytes(corpus_members(2)))
    with pytest.raises(DownloadError, match=r"expected 3 \*\.wav files in wav/, found 2"):
        _download(url, dest)
    _assert_clean(dest)


def test_missing_audio_folder(server, dest):
    url = server.add("no-wav.zip", zip_bytes({"readme.txt": b"hi"}, dirs=()))
    with pytest.raises(DownloadError, match="found 0"):
        _download(url, dest)
    _assert_clean(dest)


MALICIOUS = {
    "dotdot.zip": (zip_bytes(corpus_members(3) | {"../x": b"evil"}), "outside"),
    "deep-dotdot.tar.gz": (tar_bytes(corpus_members(3) | {"wav/../../../x": b"evil"}), "outside"),
    "absolute.zip": (zip_bytes(corpus_members(3) | {"/tmp/sertk-evil": b"evil"}), "absolute"),
    "absolute.tar.gz": (tar_bytes(corpus_members(3) | {"/tmp/sertk-evil": b"evil"}), "absolute"),
    "symlink.zip": (zip_bytes(corpus_members(3), symlinks={"wav/x.wav": "../../../etc/passwd"}),
                    "symlink"),
    "symlink.tar.gz": (tar_bytes(corpus_members(3),
                                 extra=[tar_entry("evil", tarfile.SYMTYPE, "../../..")]),
                       "symlink"),
    "hardlink.tar.gz": (tar_bytes(corpus_members(3),
                                  extra=[tar_entry("evil", tarfile.LNKTYPE, "/etc/passwd")]),
                        "hard link"),
    "device.tar.gz": (tar_bytes(corpus_members(3), extra=[tar_entry("tty", tarfile.CHRTYPE)]),
                      "device"),
}


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_archive(server, dest, name):
    data, reason = MALICIOUS[name]
    url = server.add(name, data)
    with pytest.raises(DownloadError, match=reason) as err:
        _download(url, dest)
    assert url in str(err.value) and "nothing was extracted" in str(err.value)
    _assert_clean(dest)


def test_zip_bomb(server, dest):
    url = server.add("bomb.zip", zip_bomb(4 * 2**20))
    with pytest.raises(DownloadError, match="zip bomb"):
        _download(url, dest, spec=replace(SPEC, max_unpacked_bytes=2**20))
    _assert_clean(dest)


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_truncated_archive(server, dest, fmt):
    members = corpus_members(40)
    data = zip_bytes(members) if fmt == "zip" else tar_bytes(members)
    url = server.add(f"truncated.{fmt}", data[: len(data) * 2 // 3])
    with pytest.raises(DownloadError, match="corrupt|truncated|not a zip or tar"):
        _download(url, dest)
    _assert_clean(dest)


def test_html_error_page_instead_of_archive(server, dest):
    url = server.add("page.zip", b"<html><body>Please log in</body></html>")
    with pytest.raises(DownloadError, match="not a zip or tar"):
        _download(url, dest)
    _assert_clean(dest)


def test_connection_closed_early(server, dest):
    server.add("cut.zip", zip_bytes(corpus_members(3)))
    with pytest.raises(DownloadError, match=r"closed after \d+ of \d+ bytes"):
        _download(server.url("short/cut.zip"), dest)
    _assert_clean(dest)


def test_http_404(server, dest):
    url = server.url("missing.zip")
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        _download(url, dest)
    assert url in str(err.value)
    _assert_clean(dest)


def test_connection_refused(dest):
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect"):
        _download(f"http://127.0.0.1:{port}/x.zip", dest)
    _assert_clean(dest)


def test_download_size_limit(server, dest):
    url = server.add("big.zip", zip_bytes(corpus_members(3)))
    with pytest.raises(DownloadError, match="over the limit"):
        _download(url, dest, spec=replace(SPEC, max_download_bytes=100))
    _assert_clean(dest)


def test_unsupported_scheme(dest):
    with pytest.raises(DownloadError, match="only http"):
        _download("ftp://127.0.0.1/x.zip", dest)
    _assert_clean(dest)


def test_existing_folder_is_left_as_it_was(server, tmp_path):
    dest = tmp_path / "parent" / "emodb"
    (dest / "wav").mkdir(parents=True)
    (dest / "wav" / "mine.wav").write_bytes(b"keep")
    (dest / "notes.txt").write_text("keep")
    url = server.add("clash.zip", zip_bytes(corpus_members(3)))
    with pytest.raises(DownloadError, match="already contains wav"):
        _download(url, dest)
    _assert_clean(dest, before={"wav", "notes.txt"})
    assert [p.name for p in (dest / "wav").iterdir()] == ["mine.wav"]


def test_existing_folder_with_other_files_receives_the_corpus(server, tmp_path):
    dest = tmp_path / "parent" / "emodb"
    dest.mkdir(parents=True)
    (dest / "notes.txt").write_text("keep")
    _download(server.add("beside.zip", zip_bytes(corpus_members(3))), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["erklaerung.txt", "notes.txt", "wav"]


def test_file_url(tmp_path, dest):
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes(corpus_members(3)))
    result = _download(archive.as_uri(), dest)
    assert result.files == 3


def test_unknown_corpus(dest):
    with pytest.raises(DownloadError, match="unknown corpus 'iemocap'"):
        download_corpus("iemocap", dest, progress=False)


def test_emodb_spec():
    assert CORPORA["emodb"] is EMODB
    assert EMODB.url == "http://emodb.bilderbar.info/download/download.zip"
    assert (EMODB.audio_dir, EMODB.audio_pattern, EMODB.expected_files) == ("wav", "*.wav", 535)


def test_progress_bar_goes_to_stderr(server, dest, capsys):
    url = server.add("progress.zip", zip_bytes(corpus_members(3)))
    download_corpus(SPEC, dest, url=url, progress=True, timeout=10)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "progress.zip" in captured.err


@pytest.fixture(scope="module")
def slow():
    srv = SlowServer()
    yield srv
    srv.close()


def test_a_trickling_server_is_given_up_as_stalled(slow, dest):
    """One byte every 0.05 s (20 B/s) never stops, but is less than 1 KiB per 0.5 s."""
    url = slow.url("trickle/100000/1/0.05")
    with pytest.raises(DownloadError, match=r"stalled: less than 1024 bytes arrived in 0.5 s "
                                            r"\(--stall-timeout\); stopped after \d+ bytes"):
        _download(url, dest, timeout=60, stall_timeout=0.5)
    _assert_clean(dest)


def test_a_steady_but_endless_download_hits_the_overall_time_limit(slow, dest):
    """4 KiB every 0.05 s is no stall, but 40 MB at that rate would take minutes."""
    url = slow.url("trickle/40000000/4096/0.05")
    with pytest.raises(DownloadError, match=r"took longer than the time limit of 1 s "
                                            r"\(--timeout\); stopped after \d+ bytes"):
        _download(url, dest, timeout=1.0, stall_timeout=5)
    _assert_clean(dest)


def test_headers_trickled_a_byte_at_a_time_hit_the_time_limit(slow, dest):
    """The status line and headers never finish: the watchdog wakes the blocked read."""
    with pytest.raises(DownloadError, match="took longer than the time limit of 1 s"):
        _download(slow.url("slow-headers/0.05"), dest, timeout=1.0, stall_timeout=20)
    _assert_clean(dest)


def test_a_server_that_goes_silent_is_stalled(slow, dest):
    with pytest.raises(DownloadError, match="stalled"):
        _download(slow.url("silent/20"), dest, timeout=60, stall_timeout=0.5)
    _assert_clean(dest)


@pytest.mark.parametrize("limits", [dict(timeout=0), dict(stall_timeout=-1),
                                    dict(timeout=float("inf")), dict(stall_timeout=float("nan"))])
def test_time_limits_must_be_positive_and_finite(dest, limits):
    with pytest.raises(DownloadError, match="must be a positive number of seconds"):
        _download("http://127.0.0.1:9/x.zip", dest, **limits)
    assert not dest.exists()


def test_a_file_url_must_name_a_regular_file(tmp_path, dest):
    os.mkfifo(tmp_path / "pipe.zip")  # opening it would wait for a writer forever
    with pytest.raises(DownloadError, match="not a regular file"):
        _download((tmp_path / "pipe.zip").as_uri(), dest)
    with pytest.raises(DownloadError, match="cannot open"):
        _download((tmp_path / "missing.zip").as_uri(), dest)
    _assert_clean(dest)


def test_an_interrupt_while_moving_into_place_moves_nothing(server, dest, monkeypatch):
    """Ctrl-C (or SIGTERM) between two renames: the first is undone, no temporaries remain."""
    url = server.add("moving.zip", zip_bytes(corpus_members(3)))
    real_rename, calls = Path.rename, []

    def interrupted_rename(self, target):
        calls.append(self)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        _download(url, dest)
    _assert_clean(dest)
