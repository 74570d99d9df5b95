"""Shared helpers of the bench/ scripts: arguments, machine facts, timing, tables, JSON.

Every script prints a small table and writes a JSON file (``--out``, default
``bench/results/<name>.json``) holding the figures, the machine (CPU, cores, torch
threads, load average before and after) and the git commit, so a figure in the README
can be traced to the run that produced it. Benchmarks never pass or fail on time.

Timings on a shared machine are noisy: every figure is the *median* of several
repetitions, and ``--max-load`` makes a script wait (up to ``--wait``) until the
1-minute load average is below a threshold before it starts.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
if str(REPO) not in sys.path:  # run as `python bench/<script>.py` from anywhere
    sys.path.insert(0, str(REPO))


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every bench script shares."""
    p = argparse.ArgumentParser(prog=f"bench/{name}.py", description=description)
    p.add_argument("--out", type=Path, default=RESULTS / f"{name}.json",
                   help="JSON file to write (default: bench/results/%(prog)s.json)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budget (a smoke test, seconds); the figures mean nothing")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads (default 0: one per core)")
    p.add_argument("--max-load", type=float, default=0.0,
                   help="wait until the 1-minute load average is below this (0: do not wait)")
    p.add_argument("--wait", type=float, default=600.0,
                   help="longest wait for --max-load, in seconds (then run anyway)")
    return p


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Apply the thread setting, wait for a quiet machine if asked; return machine facts."""
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    waited = wait_for_load(args.max_load, args.wait) if args.max_load > 0 else 0.0
    info = machine_info()
    info["waited_for_load_s"] = round(waited, 1)
    return info


def wait_for_load(max_load: float, timeout: float) -> float:
    """Sleep until the 1-minute load average is below ``max_load``; returns seconds waited."""
    start = time.monotonic()
    while os.getloadavg()[0] >= max_load and time.monotonic() - start < timeout:
        time.sleep(5)
    return time.monotonic() - start


def machine_info() -> dict[str, Any]:
    """CPU, cores, library versions, torch threads, load average and git commit."""
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "environment": {k: v for k, v in os.environ.items()
                        if k.startswith(("OMP_", "MKL_", "MALLOC_")) or k == "LD_PRELOAD"},
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git("rev-parse", "--short", "HEAD"),
        # changed code, not the result files earlier benchmarks of a session wrote
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".",
                           ":(exclude)bench/results")),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1,
                budget: float | None = None) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs, after ``warmup`` runs.

    With ``budget`` (seconds), stops early once the timed runs have taken that long
    (at least one run is timed).
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if budget is not None and sum(times) >= budget:
            break
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last :func:`reset_peak_rss`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident memory of this process in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ``clear_refs``); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def default_emodb(explicit: str | None = None) -> Path | None:
    """EmoDB-2s wav folder: ``explicit``, ``$SERTK_TEST_DATA/emodb-2s`` or ../shared/data."""
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("SERTK_TEST_DATA"):
        candidates.append(Path(os.environ["SERTK_TEST_DATA"]) / "emodb-2s")
    candidates.append(REPO.parent / "shared" / "data" / "emodb-2s")
    for path in candidates:
        for folder in (path / "wav", path):
            if folder.is_dir() and any(folder.glob("*.wav")):
                return folder
    return None


def emodb_files(explicit: str | None, limit: int | None = None) -> list[Path]:
    """Sorted EmoDB-2s wav files (the first ``limit``); SystemExit naming the place looked."""
    folder = default_emodb(explicit)
    if folder is None:
        raise SystemExit("EmoDB-2s not found: pass --data DIR or set SERTK_TEST_DATA "
                         "(the folder holding emodb-2s/)")
    files = sorted(folder.glob("*.wav"))
    return files[:limit] if limit else files


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of ``rows`` (dicts) in ``columns`` order; floats to 3 significant
    figures or more."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return "" if value is None else str(value)

    body = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) if body else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def finish(args: argparse.Namespace, name: str, machine: dict[str, Any],
           rows: Iterable[dict[str, Any]], columns: Sequence[str], **extra: Any) -> dict:
    """Print the table, add the end load average, write the JSON; returns the payload."""
    rows = list(rows)
    machine = {**machine, "load_avg_end": [round(x, 2) for x in os.getloadavg()]}
    payload = {"benchmark": name, "quick": bool(args.quick), "argv": sys.argv[1:],
               "machine": machine, "rows": rows, **extra}
    print(format_table(rows, columns))
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, torch "
          f"{machine['torch']} ({machine['torch_threads']} threads), load "
          f"{machine['load_avg_start'][0]} -> {machine['load_avg_end'][0]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=_jsonable) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {_display(args.out)}")
    return payload


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --- the variable-length BLSTM as sertk ran it before (for side-by-side rows) -----------------

def packed_bidirectional_lstm(lstm, x, lengths):
    """The former path: ``nn.LSTM`` on packed sequences. (B, T, F), (B,) -> (B, T, 2H)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])
    return out


@contextmanager
def blstm_path(path: str):
    """Run sertk's BLSTM blocks on ``path``: "dense" (as shipped) or "packed" (the former path)."""
    from sertk.models import blocks

    shipped = blocks.bidirectional_lstm
    if path == "packed":
        blocks.bidirectional_lstm = packed_bidirectional_lstm
    try:
        yield
    finally:
        blocks.bidirectional_lstm = shipped
