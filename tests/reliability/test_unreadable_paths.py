"""Paths that are not readable audio files say why: not a regular file, permission denied, ...

Every reader (``load_audio``, the corpus check of ``sertk prepare``, the head and block
readers of ``sertk predict``) classifies a path before opening it: a named pipe is "not a
regular file" (and is never opened, so nothing waits for a writer), a file the operating
system will not open is "permission denied" (libsndfile alone says "System error.").

Root reads any file whatever its mode, and tests often run as root. So the real
permission test runs ``sertk`` in a child process whose capability bounding set lacks
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (what lets root ignore file modes): root without
them is refused like anyone else. The same reasons are also checked in-process with the
operating system's refusal simulated, wherever the capability cannot be dropped.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import sertk.audio
from sertk.audio import AudioError, load_audio, read_head
from sertk.data.validate import check_audio
from sertk.infer.stream import stream_audio
from tests.infer.tiny import write_clip

REPO = Path(__file__).resolve().parents[2]
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2

READERS = {
    "load_audio": load_audio,
    "check_audio": check_audio,
    "read_head": lambda p: read_head(p, 4.0),
    "stream_audio": lambda p: list(stream_audio(p)),
}


def _reasons(path) -> dict[str, str]:
    """reader -> its AudioError message for ``path`` (each must raise one)."""
    out = {}
    for name, read in READERS.items():
        with pytest.raises(AudioError) as err:
            read(path)
        out[name] = str(err.value)
    return out


def test_a_named_pipe_is_not_a_regular_file_and_is_never_opened(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    for name, message in _reasons(fifo).items():
        assert message == f"{fifo}: not a regular file (it is a named pipe (FIFO))", name


def test_a_socket_and_a_device_are_not_regular_files(tmp_path):
    sock_path = tmp_path / "s.wav"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        for message in _reasons(sock_path).values():
            assert "not a regular file (it is a socket)" in message
    for message in _reasons("/dev/null").values():
        assert "not a regular file (it is a character device)" in message


def test_a_broken_link_names_its_target(tmp_path):
    link = tmp_path / "gone.wav"
    link.symlink_to(tmp_path / "deleted.wav")
    for message in _reasons(link).values():
        assert f"file not found (a broken symbolic link to {tmp_path / 'deleted.wav'})" in message


def test_a_path_with_a_nul_byte_is_an_audio_error(tmp_path):
    for message in _reasons(f"{tmp_path}/a\0b.wav").values():
        assert "not a valid path (it contains a NUL byte)" in message


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EIO, errno.ENAMETOOLONG])
def test_the_operating_systems_refusal_is_reported_in_its_words(tmp_path, monkeypatch, code):
    """Simulated: os.stat or open of this one file fails with ``code``."""
    path = write_clip(tmp_path / "clip.wav", 0.5)
    words = os.strerror(code).lower()
    real_open, real_stat = open, os.stat

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise OSError(code, os.strerror(code), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    for message in _reasons(path).values():
        assert message == f"{path}: cannot open ({words})"
    monkeypatch.undo()

    def refusing_stat(file, *args, **kwargs):
        if str(file) == str(path):
            raise OSError(code, os.strerror(code), str(file))
        return real_stat(file, *args, **kwargs)

    monkeypatch.setattr(sertk.audio.os, "stat", refusing_stat)
    for message in _reasons(path).values():
        assert message == f"{path}: cannot open ({words})"


def _without_dac_override() -> None:
    """In the child, before exec: give up root's right to ignore file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _sertk(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m sertk`` unable to read files whose mode forbids it, root or not."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "sertk", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_without_dac_override if os.geteuid() == 0 else None)


def test_predict_and_prepare_say_permission_denied_and_not_a_regular_file(tmp_path, checkpoint):
    folder = tmp_path / "corpus" / "anger"
    good = write_clip(folder / "good.wav", 0.8)
    locked = write_clip(folder / "locked.wav", 0.8)
    locked.chmod(0)
    os.mkfifo(folder / "pipe.wav")
    try:
        subprocess.run([sys.executable, "-c", ""], check=True, capture_output=True,
                       preexec_fn=_without_dac_override if os.geteuid() == 0 else None)
    except (subprocess.SubprocessError, OSError) as err:  # pragma: no cover
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here ({err})")

    out = tmp_path / "preds.json"
    run = _sertk("predict", "--model", str(checkpoint), str(folder), "--no-progress",
                 "--out", str(out))
    assert run.returncode == 1, run.stderr
    errors = {Path(r["path"]).name: r["error"] for r in json.loads(out.read_text())}
    assert errors["good.wav"] is None
    assert errors["locked.wav"] == "cannot open (permission denied)"
    assert errors["pipe.wav"] == "not a regular file (it is a named pipe (FIFO))"
    assert "Traceback" not in run.stderr and "System error" not in run.stderr

    run = _sertk("prepare", "folder", str(tmp_path / "corpus"), "--skip-bad", "-o",
                 str(tmp_path / "m.csv"))
    assert run.returncode == 0, run.stderr
    assert f"{locked}: cannot open (permission denied)" in run.stdout + run.stderr
    assert f"{folder / 'pipe.wav'}: not a regular file" in run.stdout + run.stderr
    assert str(good) in (tmp_path / "m.csv").read_text()
