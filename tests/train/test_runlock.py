"""sertk.train.runlock: one writer per lock file, a busy message naming the holder, and no
stale lock after the holder dies."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sertk
from sertk.train.runlock import RunBusyError, exclusive

HOLDER = '''
import sys, time
from pathlib import Path
from sertk.train.runlock import exclusive
with exclusive(sys.argv[1], what="fold-00"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(120)
'''


def _hold_in_child(lock: Path, tmp_path: Path) -> subprocess.Popen:
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(Path(sertk.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(ready)], env=env)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    return proc


def test_a_second_writer_is_refused_naming_the_holder_until_it_dies(tmp_path):
    lock = tmp_path / "run" / ".sertk-fold-00.lock"
    proc = _hold_in_child(lock, tmp_path)
    try:
        with pytest.raises(RunBusyError) as err:
            with exclusive(lock, what="fold-00"):
                pass
        assert f"run directory busy (pid {proc.pid})" in str(err.value)
        assert str(tmp_path / "run") in str(err.value) and "fold-00" in str(err.value)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel drops the lock
        proc.wait(timeout=30)
    with exclusive(lock):
        assert lock.read_text().strip() == str(os.getpid())
    assert not lock.exists()  # removed by its holder


def test_different_lock_files_do_not_block_each_other(tmp_path):
    with exclusive(tmp_path / ".sertk-fold-00.lock"):
        with exclusive(tmp_path / ".sertk-fold-01.lock"):
            pass


def test_waiting_writers_take_turns_even_as_files_are_removed(tmp_path):
    """Four threads (each its own descriptor) count under a waited-for lock: no lost update."""
    lock, counter = tmp_path / ".sertk-run.lock", tmp_path / "count"
    counter.write_text("0")

    def work():
        for _ in range(25):
            with exclusive(lock, wait=True):
                value = int(counter.read_text())
                time.sleep(0.0005)
                counter.write_text(str(value + 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert int(counter.read_text()) == 100
