"""sertk.threads: PyTorch gets the cores that other processes leave free."""
from __future__ import annotations

import pytest
import torch

import sertk.threads as threads


class FakeClock:
    """Machine and own CPU seconds that advance as the test says."""

    def __init__(self, monkeypatch):
        self.wall, self.machine, self.own = 100.0, 5000.0, 3.0
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.wall)
        monkeypatch.setattr(threads, "_cpu_seconds", lambda: (self.machine, 9e9))
        monkeypatch.setattr(threads, "_own_seconds", lambda: self.own)

    def advance(self, seconds: float, others_busy: float, own_busy: float) -> None:
        self.wall += seconds
        self.own += own_busy * seconds
        self.machine += (others_busy + own_busy) * seconds


@pytest.mark.parametrize("others,expected", [(0.0, 2), (0.3, 2), (0.9, 1), (1.0, 1), (2.0, 1)])
def test_threads_are_the_free_cores(monkeypatch, others, expected):
    clock = FakeClock(monkeypatch)
    probe = threads.CpuProbe()
    clock.advance(2.0, others_busy=others, own_busy=1.0)  # our own start-up does not count
    assert probe.busy_cores() == pytest.approx(others)
    assert probe.threads(default=2, cores=2) == expected


def test_never_more_than_the_default(monkeypatch):
    clock = FakeClock(monkeypatch)
    probe = threads.CpuProbe()
    clock.advance(1.0, others_busy=0.0, own_busy=0.0)
    assert probe.threads(default=4, cores=16) == 4


def test_unknown_load_keeps_the_default(monkeypatch):
    monkeypatch.setattr(threads, "PROC_STAT", threads.Path("/nonexistent/stat"))
    probe = threads.CpuProbe()
    assert probe.busy_cores() is None
    assert probe.threads(default=3) == 3


def test_real_probe_reads_this_machine():
    probe = threads.CpuProbe()
    busy = probe.busy_cores()  # waits the minimum window
    assert busy is None or 0.0 <= busy <= (threads.os.cpu_count() or 1) + 0.5
    assert 1 <= probe.threads(default=2) <= 2


def test_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    assert threads.configure_torch_threads(threads.CpuProbe()) is None
    assert torch.get_num_threads() == before


def test_configure_sets_torch_threads_once(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_chosen", None)
    before = torch.get_num_threads()

    class Busy:
        def threads(self, default):
            return 1

    try:
        assert threads.configure_torch_threads(Busy()) == 1
        assert torch.get_num_threads() == 1
        assert threads.configure_torch_threads(None) == 1  # decided once per process
    finally:
        torch.set_num_threads(before)
