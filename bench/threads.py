"""Process settings: torch threads, OpenMP wait policy and glibc malloc, idle and busy.

PyTorch's CPU kernels run on an OpenMP team that meets at a barrier after each
operation. On a machine whose cores are taken by other work, a thread on a busy core
waits for its time slice at every barrier, and a parallel step can become several times
*slower* than one thread. Separately, glibc's malloc hands big freed blocks back to the
kernel, so every training step faults its activations' pages in again (~1 GB per step
of 4 s clips). This script measures, each in a fresh process (both settings are read
when the libraries load):

- a training step of ``proposed`` (batch 32, forward + backward + Adam) on 2 s and on
  4 s clips,
- inference on a batch of 32 clips of 4 s, and on one 4 s clip,

for torch threads in {1, all cores} with the default environment, with
``OMP_WAIT_POLICY=PASSIVE`` and with glibc malloc told to keep freed memory
(``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` at 2 GB), first on an idle
machine and then with ``--busy`` CPU-bound competitor processes running (started and
stopped by this script), which is what a shared machine or a busy laptop looks like.
Each figure is the median of ``--repeats`` timed runs after one warm-up (fewer when
they exceed ``--budget`` seconds: a pathological setting can be 10x slower).

    python bench/threads.py              # ~5 min on 2 cores
    python bench/threads.py --quick      # smoke test
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import benchlib

NAME = "threads"
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "2000000000", "MALLOC_TRIM_THRESHOLD_": "2000000000"}
ENVS = {"default": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
        "malloc keeps freed memory": MALLOC}


def worker(args) -> dict:
    """Time the four workloads in this process (threads and environment set by the parent)."""
    import torch

    from sertk.models import create_model

    torch.manual_seed(0)
    model_args = {"hidden": 16, "n_heads": 2} if args.quick else {}
    model = create_model("proposed", 7, **model_args)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # as sertk trains
    y = torch.randint(0, 7, (32,))
    x_2s, x_4s = torch.randn(32, 40, 201), torch.randn(32, 40, 401)
    x_batch, x_one = torch.randn(32, 40, 401), torch.randn(1, 40, 401)

    def train_step(x):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def infer(x):
        with torch.inference_mode():
            model(x)

    budget = args.budget  # per workload: a pathological setting must not take forever
    model.train()
    out = {"train_step_2s_s": benchlib.median_time(lambda: train_step(x_2s), args.repeats,
                                                   budget=budget),
           "train_step_4s_s": benchlib.median_time(lambda: train_step(x_4s), args.repeats,
                                                   budget=budget)}
    model.eval()
    out["infer_b32_4s_s"] = benchlib.median_time(lambda: infer(x_batch), args.repeats,
                                                 budget=budget)
    out["infer_b1_4s_s"] = benchlib.median_time(lambda: infer(x_one), 3 * args.repeats,
                                                budget=budget)
    return out


def run_worker(threads: int, env_name: str, repeats: int, quick: bool, budget: float) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", *MALLOC)}  # only what the row says
    env.update(ENVS[env_name])
    cmd = [sys.executable, __file__, "--worker", "--threads", str(threads), "--repeats",
           str(repeats), "--budget", str(budget)] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_busy(n: int) -> list[subprocess.Popen]:
    """``n`` CPU-bound competitor processes (a pure-Python busy loop each)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_busy(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait()


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    p.add_argument("--busy", type=int, default=2,
                   help="competitor processes for the busy-machine rows (0: idle rows only)")
    p.add_argument("--budget", type=float, default=10.0,
                   help="seconds of timed runs per workload and setting, at most (default 10)")
    p.add_argument("--worker", action="store_true", help=benchlib.argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        import torch

        torch.set_num_threads(args.threads or os.cpu_count() or 1)
        result = worker(args)
        print(json.dumps(result))
        return result
    cores = os.cpu_count() or 1
    full = args.threads or cores
    settings = [(1, "default"), (full, "default"), (full, "OMP_WAIT_POLICY=PASSIVE"),
                (1, "malloc keeps freed memory"), (full, "malloc keeps freed memory")]
    if args.quick:  # idle only, one thread
        args.repeats, args.busy = 1, 0
        settings = [(1, "default"), (1, "malloc keeps freed memory")]
    machine = benchlib.setup(args)
    rows = []
    for busy in sorted({0, args.busy}):
        competitors = start_busy(busy)
        try:
            time.sleep(0.5 if busy else 0)
            for threads, env_name in settings:
                r = run_worker(threads, env_name, args.repeats, args.quick, args.budget)
                rows.append({"machine": f"{busy} busy process(es)" if busy else "idle",
                             "threads": threads, "environment": env_name, **r})
        finally:
            stop_busy(competitors)
    return benchlib.finish(args, NAME, machine, rows,
                           ["machine", "threads", "environment", "train_step_2s_s",
                            "train_step_4s_s", "infer_b32_4s_s", "infer_b1_4s_s"],
                           repeats=args.repeats)


if __name__ == "__main__":
    main()
