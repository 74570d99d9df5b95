"""Thread settings: torch threads x OpenMP wait policy, on an idle and on a busy machine.

PyTorch's CPU kernels run on an OpenMP thread pool whose idle threads spin
(``OMP_WAIT_POLICY=ACTIVE``-like behaviour of GNU OpenMP by default) before they sleep.
On a machine whose cores are taken by other work, spinning threads steal the time the
working ones need, and a parallel step can become several times *slower* than one
thread. This script measures, each in a fresh process (the policy is read when the
OpenMP library loads):

- a training step of ``proposed`` (batch 32, 2 s clips, forward + backward + Adam),
- inference on a batch of 32 clips of 4 s, and on one 4 s clip,

for torch threads in {1, all cores} and policy in {default, PASSIVE}, first on an idle
machine and then with ``--busy`` CPU-bound competitor processes running (started and
stopped by this script), which is what a shared machine or a busy laptop looks like.
Each figure is the median of ``--repeats`` timed runs after one warm-up (fewer when
they exceed ``--budget`` seconds: a pathological setting can be 10x slower).

    python bench/threads.py              # ~3 min on 2 cores
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
POLICIES = ("default", "PASSIVE")


def worker(args) -> dict:
    """Time the three workloads in this process (threads and policy set by the parent)."""
    import torch

    from sertk.models import create_model

    torch.manual_seed(0)
    model_args = {"hidden": 16, "n_heads": 2} if args.quick else {}
    model = create_model("proposed", 7, **model_args)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x_train, y = torch.randn(32, 40, 201), torch.randint(0, 7, (32,))
    x_batch, x_one = torch.randn(32, 40, 401), torch.randn(1, 40, 401)

    def train_step():
        loss = torch.nn.functional.cross_entropy(model(x_train), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def infer(x):
        with torch.inference_mode():
            model(x)

    budget = args.budget  # per workload: a pathological setting must not take forever
    model.train()
    out = {"train_step_s": benchlib.median_time(train_step, args.repeats, budget=budget)}
    model.eval()
    out["infer_b32_4s_s"] = benchlib.median_time(lambda: infer(x_batch), args.repeats,
                                                 budget=budget)
    out["infer_b1_4s_s"] = benchlib.median_time(lambda: infer(x_one), 3 * args.repeats,
                                                budget=budget)
    return out


def run_worker(threads: int, policy: str, repeats: int, quick: bool, budget: float) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
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
    policies = POLICIES
    if args.quick:  # one idle run per policy, one thread
        args.repeats, args.busy, args.threads = 1, 0, 1
    machine = benchlib.setup(args)
    cores = os.cpu_count() or 1
    thread_counts = sorted({1, args.threads or cores})
    rows = []
    for busy in sorted({0, args.busy}):
        competitors = start_busy(busy)
        try:
            time.sleep(0.5 if busy else 0)
            for threads in thread_counts:
                for policy in policies:
                    r = run_worker(threads, policy, args.repeats, args.quick, args.budget)
                    rows.append({"machine": f"{busy} busy process(es)" if busy else "idle",
                                 "threads": threads, "omp_wait_policy": policy, **r})
        finally:
            stop_busy(competitors)
    return benchlib.finish(args, NAME, machine, rows,
                           ["machine", "threads", "omp_wait_policy", "train_step_s",
                            "infer_b32_4s_s", "infer_b1_4s_s"],
                           repeats=args.repeats)


if __name__ == "__main__":
    main()
