"""Load on ``sertk serve``: N concurrent clients posting 4 s clips for a bounded time.

Starts a real server (``sertk serve --workers W --pool P``, the bundled EmoDB model by
default) on a free 127.0.0.1 port for each worker count, then for each client count
runs that many client threads, each posting 4 s clips (two EmoDB-2s clips end to
end, as WAV) one after another for ``--seconds``; a request in flight when the time
is up is still waited for, so every request is answered. Per run: requests, answers
200 / 503 (the pool was full; the client waits 0.1 s and tries again) / other errors,
lost requests (no answer: must be 0), latency percentiles of the 200s, throughput
(200s per second) and the peak resident memory of the server (its processes summed,
sampled every 0.1 s). With ``clients <= pool`` there must be no 503 and no error;
above it only 503s. The kernel hands each client's (kept-alive) connection to one
worker, not evenly, so with several workers 503s can start below ``workers x pool``.

    python bench/serve_load.py                       # 1 and 2 workers, 1/2/4/8 clients, 20 s
    python bench/serve_load.py --quick
"""
from __future__ import annotations

import io
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

import benchlib

NAME = "serve_load"
BACKOFF_S = 0.1  # a client's pause after a 503


def four_second_clips(files: list[Path], count: int) -> list[bytes]:
    """``count`` WAV files of 4 s: consecutive EmoDB-2s clips joined in pairs."""
    clips = []
    for a, b in zip(files[0:2 * count:2], files[1:2 * count:2]):
        wa, rate = sf.read(a, dtype="int16")
        wb, _ = sf.read(b, dtype="int16")
        buffer = io.BytesIO()
        sf.write(buffer, np.concatenate([wa, wb]), rate, format="WAV", subtype="PCM_16")
        clips.append(buffer.getvalue())
    return clips


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MiB (Linux /proc)."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


class Server:
    def __init__(self, workers: int, pool: int, threads: int, model: str | None):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "sertk", "serve", "--port", str(self.port),
                   "--workers", str(workers), "--pool", str(pool), "--threads", str(threads),
                   "--log-level", "warning"] + (["--model", model] if model else [])
        self.process = subprocess.Popen(command, cwd=benchlib.REPO, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            self.stop()
            raise SystemExit("server did not start in 300 s")
        if workers > 1:  # /health answered by one worker: give the others time to load
            time.sleep(3.0 * workers)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_clients(url: str, clips: list[bytes], clients: int, seconds: float,
                pid: int) -> dict:
    import httpx

    results: list[tuple[int, float]] = []  # (status, latency s); status 0: no answer
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    peak = [process_tree_rss_mb(pid)]
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.1):
            peak[0] = max(peak[0], process_tree_rss_mb(pid))

    def client(index: int):
        with httpx.Client(timeout=300) as http:
            n = index
            while time.monotonic() < stop_at:
                clip = clips[n % len(clips)]
                n += clients
                start = time.perf_counter()
                try:
                    status = http.post(url + "/predict", content=clip,
                                       headers={"Content-Type": "audio/wav"}).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    results.append((status, time.perf_counter() - start))
                if status == 503:
                    time.sleep(BACKOFF_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    sampling.set()
    sampler.join()
    ok = sorted(lat for status, lat in results if status == 200)
    return {
        "requests": len(results), "ok": len(ok),
        "refused_503": sum(1 for s, _ in results if s == 503),
        "errors": sum(1 for s, _ in results if s not in (0, 200, 503)),
        "lost": sum(1 for s, _ in results if s == 0),
        "p50_ms": 1000 * percentile(ok, 50), "p95_ms": 1000 * percentile(ok, 95),
        "p99_ms": 1000 * percentile(ok, 99),
        "mean_ms": 1000 * statistics.fmean(ok) if ok else None,
        "throughput_per_s": len(ok) / wall, "wall_s": wall,
        "peak_server_rss_mb": peak[0],
    }


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return float(np.percentile(sorted_values, q, method="higher"))


def main() -> None:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--pool", type=int, default=2, help="inference slots per worker")
    p.add_argument("--seconds", type=float, default=20.0, help="load time per run")
    p.add_argument("--model", default=None, help="checkpoint (default: the bundled emodb)")
    p.add_argument("--data", default=None, help="EmoDB-2s wav folder")
    args = p.parse_args()
    if args.quick:
        args.clients, args.seconds = [1, 3], 2.0
    machine = benchlib.setup(args)
    server_threads = max(1, args.threads or 1)
    clips = four_second_clips(benchlib.emodb_files(args.data, 16), 8)
    rows = []
    for workers in args.workers:
        server = Server(workers, args.pool, server_threads, args.model)
        try:
            for clients in args.clients:
                row = {"workers": workers, "pool": args.pool, "clients": clients,
                       "capacity": workers * args.pool, "clip_s": 4.0}
                row.update(run_clients(server.url, clips, clients, args.seconds,
                                       server.process.pid))
                rows.append(row)
                print(f"workers {workers}, clients {clients}: {row['ok']} ok, "
                      f"{row['refused_503']} x 503, {row['errors']} errors, "
                      f"{row['lost']} lost", file=sys.stderr)
        finally:
            server.stop()
    columns = ["workers", "pool", "clients", "requests", "ok", "refused_503", "errors", "lost",
               "p50_ms", "p95_ms", "p99_ms", "throughput_per_s", "peak_server_rss_mb"]
    benchlib.finish(args, NAME, machine, rows, columns, seconds_per_run=args.seconds,
                    server_torch_threads=server_threads, client_backoff_s=BACKOFF_S)


if __name__ == "__main__":
    main()
