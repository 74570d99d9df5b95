"""How many CPU threads a ``sertk`` command gives PyTorch: the cores other processes leave free.

PyTorch runs each operation on an OpenMP team that meets at a barrier when the
operation ends. When another process keeps one of the cores busy, a thread on that
core waits for its time slice at every barrier, and a training step on a 2-core machine
with one busy neighbour takes ~2x *longer* with two threads than with one (and up to
~4x with two neighbours); on an idle machine two threads are ~1.6x faster than one
(``bench/threads.py``). The command line therefore watches, while it starts up, how much
CPU time the other processes use (``/proc/stat`` minus this process's own time) and
gives PyTorch the cores they leave: all of them on an idle machine, fewer on a busy one.

``OMP_NUM_THREADS`` and a command's own ``--threads`` option still decide when given.
Outside Linux (no ``/proc/stat``) PyTorch's default is kept.

Example:
    >>> probe = CpuProbe()        # at start-up          # doctest: +SKIP
    >>> ...                       # imports, parsing     # doctest: +SKIP
    >>> probe.threads(default=2)  # 1 if another process keeps a core busy  # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
MIN_WINDOW = 0.2  # seconds of observation below which the probe sleeps to complete it


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, or None if unknown."""
    try:
        line = PROC_STAT.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = line.split()
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def _own_seconds() -> float:
    """CPU seconds used by this process (all its threads) so far."""
    t = os.times()
    return t.user + t.system


class CpuProbe:
    """Measures the CPU load of *other* processes from its creation until :meth:`threads`."""

    def __init__(self):
        self._start = (time.monotonic(), _cpu_seconds(), _own_seconds())

    def busy_cores(self) -> float | None:
        """Cores kept busy by other processes over the observation window (None: unknown)."""
        wall0, machine0, own0 = self._start
        if machine0 is None:
            return None
        elapsed = time.monotonic() - wall0
        if elapsed < MIN_WINDOW:
            time.sleep(MIN_WINDOW - elapsed)
            elapsed = MIN_WINDOW
        machine1 = _cpu_seconds()
        if machine1 is None:
            return None
        others = (machine1[0] - machine0[0]) - (_own_seconds() - own0)
        return max(0.0, others / elapsed)

    def threads(self, default: int, cores: int | None = None) -> int:
        """``default`` threads, reduced to the cores the other processes leave free (>= 1)."""
        busy = self.busy_cores()
        if busy is None:
            return default
        cores = cores or os.cpu_count() or default
        free = int(cores - busy + 0.5)  # a core that is busy half the time counts as free
        return max(1, min(default, free))


_chosen: int | None = None  # decided once per process


def configure_torch_threads(probe: CpuProbe) -> int | None:
    """Give torch the cores that other processes leave free (once per process).

    Returns the thread count chosen, or None when ``OMP_NUM_THREADS`` fixes it.
    """
    global _chosen
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    if _chosen is None:
        _chosen = probe.threads(torch.get_num_threads())
    torch.set_num_threads(_chosen)
    return _chosen
