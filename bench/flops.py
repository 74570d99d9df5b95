"""Know the limit: this machine's fp32 matmul GFLOP/s beside a training step's achieved
GFLOP/s, and where the step's time goes.

1. **matmul peak**: ``torch.mm`` in float32 with the same torch threads, on the shapes of
   the model's own matrix products (batch 32 of 2 s clips: 32 x 201 = 6432 frame rows) and
   on a 1024-cube; the peak is the fastest of them. Where the CPU computes bfloat16
   natively (AVX-512 BF16, AMX) the 1024-cube in bfloat16 is shown too (not the peak).
2. **training step**: one step of ``proposed`` (7 classes, Adam as sertk trains it: fused),
   batch 32 of 2 s (201 frames) and 4 s (401 frames) log-mels, equal lengths, padding
   ``batch``: the in-memory dataset's collate (data), forward + cross-entropy + backward,
   optimizer. FLOPs of forward + backward by ``torch.utils.flop_counter.FlopCounterMode``,
   plus the LSTMs', which it does not count (``mkldnn_rnn_layer`` has no formula): per
   direction and block ``2 * B * T * 4H * (I + H)`` forward, twice that backward. Achieved
   GFLOP/s = FLOPs / median step time; ``fraction_of_peak`` = achieved / matmul peak.
   With native bfloat16, the same step under bfloat16 autocast (``precision: bf16-mixed``)
   is timed beside it (``vs_float32``: its step time over the float32 step's).
3. **profile**: ``torch.profiler`` self CPU time of forward + backward grouped by operator
   (LSTM recurrence = the fused LSTM kernels; attention = score/softmax/weighted-sum batched
   products; linear = mm/addmm of every Linear layer and projection; conv; dropout masks;
   other: element-wise, norms, masks, copies), scaled to the measured forward + backward
   time; data and optimizer are their own measured phases.
4. **torch.compile** (``--compile``): the same step and batch-32 4 s inference compiled
   (inductor, CPU) beside eager, side by side in one run: compile seconds, step time ratio,
   max |difference| of the loss, gradients and outputs.

The machine is shared: the load average is recorded before and after, and every ratio is
measured in one run. Each figure is the median of ``--repeats`` passes.

    python bench/flops.py             # ~3 min on 2 cores
    python bench/flops.py --compile   # + torch.compile rows (several minutes of compiling)
    python bench/flops.py --quick     # smoke test (tiny model, seconds)
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np

import benchlib

NAME = "flops"
N_CLASSES, BATCH = 7, 32
MATMULS = (  # (what, M, K, N) for batch 32 of 2 s clips, hidden 128
    ("LSTM input projection (B*T x 128 @ 128 x 512)", 6432, 128, 512),
    ("LSTM recurrent step (B x 128 @ 128 x 512)", 32, 128, 512),
    ("FFN up (B*T x 256 @ 256 x 512)", 6432, 256, 512),
    ("FFN down (B*T x 512 @ 512 x 128)", 6432, 512, 128),
    ("square 1024", 1024, 1024, 1024),
)
CATEGORIES = ("LSTM recurrence", "attention", "linear layers", "conv", "dropout masks",
              "other (element-wise, norms, masks, copies)")


def category(op: str) -> str:
    """The profile group of an aten operator name (forward or backward)."""
    name = op.lower()
    if "rnn" in name or "lstm" in name:
        return CATEGORIES[0]
    if any(k in name for k in ("bmm", "softmax", "scaled_dot_product", "attention")):
        return CATEGORIES[1]
    if name in ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul"):
        return CATEGORIES[2]
    if "conv" in name:
        return CATEGORIES[3]
    if "bernoulli" in name or "dropout" in name:
        return CATEGORIES[4]
    return CATEGORIES[5]


def matmul_rows(repeats: int, quick: bool) -> list[dict]:
    import torch

    from sertk.quantize import cpu_has_bf16

    shapes = [("matmul", what, m, k, n, torch.float32)
              for what, m, k, n in (MATMULS[-2:] if quick else MATMULS)]
    if cpu_has_bf16():
        what, m, k, n = MATMULS[-1]
        shapes.append(("matmul bf16", f"{what}, bfloat16", m, k, n, torch.bfloat16))
    rows = []
    for part, what, m, k, n, dtype in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        inner = max(1, int(2e8 // (2 * m * k * n)))  # ~0.2 GFLOP per timing
        seconds = benchlib.median_time(lambda: [torch.mm(a, b) for _ in range(inner)],
                                       repeats) / inner
        gflop = 2 * m * k * n / 1e9
        rows.append({"part": part, "what": what, "seconds": seconds, "gflop": gflop,
                     "gflop_per_s": gflop / seconds})
    return rows


def lstm_flops(model, batch: int, frames: int) -> float:
    """Forward + backward FLOPs of every (bidirectional) nn.LSTM, from its shapes."""
    import torch

    total = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.LSTM):
            gates, size_in = 4 * module.hidden_size, module.input_size
            directions = 2 if module.bidirectional else 1
            forward = directions * 2 * batch * frames * gates * (size_in + module.hidden_size)
            total += 3 * forward  # backward: about twice the forward
    return total


class Step:
    """One sertk-like training step on an in-memory feature dataset, in three timed phases."""

    def __init__(self, model_args: dict, frames: int, seed: int = 0):
        import torch

        from sertk.data.dataset import FeatureDataset
        from sertk.models import create_model

        torch.manual_seed(seed)
        self.model = create_model("proposed", N_CLASSES, **model_args).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4, fused=True)
        rng = np.random.default_rng(seed)
        feats = [rng.standard_normal((40, frames), dtype=np.float32) for _ in range(BATCH)]
        self.dataset = FeatureDataset(feats, [i % N_CLASSES for i in range(BATCH)],
                                      padding="batch", max_frames=frames)
        self.frames = frames
        self.bf16 = False  # forward + backward under bfloat16 autocast

    def data(self):
        return self.dataset.collate([self.dataset[i] for i in range(BATCH)])

    def forward_backward(self, batch, model=None):
        import torch

        model = self.model if model is None else model
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = model(batch.features, batch.lengths)
        loss = torch.nn.functional.cross_entropy(logits.float(), batch.targets)
        self.optimizer.zero_grad()
        loss.backward()
        return loss

    def __call__(self) -> dict[str, float]:
        t0 = time.perf_counter()
        batch = self.data()
        t1 = time.perf_counter()
        self.forward_backward(batch)
        t2 = time.perf_counter()
        self.optimizer.step()
        t3 = time.perf_counter()
        return {"data": t1 - t0, "forward_backward": t2 - t1, "optimizer": t3 - t2,
                "step": t3 - t0}


def step_rows(model_args: dict, seconds: float, repeats: int, peak: float) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import FlopCounterMode

    frames = int(round(seconds * 100)) + 1
    step = Step(model_args, frames)
    batch = step.data()
    with FlopCounterMode(display=False) as counter:
        step.forward_backward(batch)
    counted = float(counter.get_total_flops())
    lstm = lstm_flops(step.model, BATCH, frames)
    step()  # warm-up
    phases = [step() for _ in range(repeats)]
    median = {k: float(np.median([p[k] for p in phases])) for k in phases[0]}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step.forward_backward(batch)
    by_group = dict.fromkeys(CATEGORIES, 0.0)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):  # self time of operators only (no double count)
            by_group[category(event.key)] += event.self_cpu_time_total
    total_self = sum(by_group.values()) or 1.0
    what = f"batch {BATCH} x {seconds:g} s ({frames} frames)"
    flops = counted + lstm
    rows = [{"part": "training step", "what": what, "seconds": median["step"],
             "gflop": flops / 1e9, "gflop_per_s": flops / 1e9 / median["step"],
             "fraction_of_peak": flops / 1e9 / median["step"] / peak,
             "gflop_counted": counted / 1e9, "gflop_lstm_formula": lstm / 1e9,
             "load_avg_1min": round(os.getloadavg()[0], 2)}]
    from sertk.quantize import cpu_has_bf16

    if cpu_has_bf16():
        step.bf16 = True
        step()  # warm-up
        bf16 = float(np.median([step()["step"] for _ in range(repeats)]))
        step.bf16 = False
        rows.append({"part": "training step", "what": f"{what}, bf16 autocast",
                     "seconds": bf16, "gflop": flops / 1e9, "gflop_per_s": flops / 1e9 / bf16,
                     "fraction_of_peak": flops / 1e9 / bf16 / peak,
                     "vs_float32": bf16 / median["step"]})
    shares = {"data (collate)": median["data"], "optimizer (fused Adam)": median["optimizer"]}
    for group, value in by_group.items():
        shares[group] = median["forward_backward"] * value / total_self
    for group, value in shares.items():
        rows.append({"part": f"profile {seconds:g} s", "what": group, "seconds": value,
                     "share": value / median["step"]})
    return rows


def compile_rows(model_args: dict, repeats: int) -> list[dict]:
    """Eager vs torch.compile for the 2 s training step and batch-32 4 s inference."""
    import torch

    rows = []
    eager, compiled = Step(model_args, 201), Step(model_args, 201)
    compiled.model.load_state_dict(eager.model.state_dict())
    compiled_model = torch.compile(compiled.model)
    batch = eager.data()
    torch.manual_seed(1)
    loss_e = eager.forward_backward(batch)
    start = time.perf_counter()
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss_c = compiled.forward_backward(batch, compiled_model)
    compile_s = time.perf_counter() - start
    grads = max(float((a.grad - b.grad).abs().max())
                for a, b in zip(eager.model.parameters(), compiled.model.parameters()))
    # dropout draws differ between eager and compiled: compare exactness in eval mode too
    eager.model.eval(), compiled.model.eval()
    x = torch.randn(BATCH, 40, 401)
    with torch.inference_mode():
        out_e = eager.model(x)
        start = time.perf_counter()
        out_c = compiled_model(x)
        infer_compile_s = time.perf_counter() - start
    eager.model.train(), compiled.model.train()
    times = {"eager": [], "compiled": []}
    for _ in range(repeats):  # alternate: the same load for both
        for name, model in (("eager", eager.model), ("compiled", compiled_model)):
            start = time.perf_counter()
            (eager if name == "eager" else compiled).forward_backward(batch, model)
            times[name].append(time.perf_counter() - start)
    eager.model.eval(), compiled.model.eval()
    infer = {"eager": [], "compiled": []}
    with torch.inference_mode():
        for _ in range(repeats):
            for name, model in (("eager", eager.model), ("compiled", compiled_model)):
                start = time.perf_counter()
                model(x)
                infer[name].append(time.perf_counter() - start)
    for part, table, first_s, diff in (
            ("compile: training fwd+bwd 2 s", times, compile_s,
             {"max_abs_loss_diff": float((loss_e - loss_c).abs()), "max_abs_grad_diff": grads,
              "note": "train mode: dropout masks differ between eager and compiled"}),
            ("compile: inference 32 x 4 s", infer, infer_compile_s,
             {"max_abs_output_diff": float((out_e - out_c).abs().max())})):
        for name, values in table.items():
            rows.append({"part": part, "what": name, "seconds": float(np.median(values)),
                         "vs_eager": float(np.median(values)) / float(np.median(table["eager"])),
                         **({"first_call_s": first_s, **diff} if name == "compiled" else {})})
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="passes per figure (median)")
    p.add_argument("--compile", action="store_true", help="add the torch.compile rows")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 1
    machine = benchlib.setup(args)
    model_args = {"hidden": 16, "n_heads": 2, "blstm_ffn_dim": 32,
                  "transformer_ffn_dim": 32} if args.quick else {}
    rows = matmul_rows(args.repeats, args.quick)
    peak = max(r["gflop_per_s"] for r in rows if r["part"] == "matmul")  # float32
    for row in rows:
        row["fraction_of_peak"] = row["gflop_per_s"] / peak
    for seconds in ((0.5,) if args.quick else (2.0, 4.0)):
        rows += step_rows(model_args, seconds, args.repeats, peak)
    if args.compile:
        try:
            rows += compile_rows(model_args, args.repeats)
        except Exception as err:  # no compiler, an unsupported op...: say so, keep the rest
            rows.append({"part": "compile", "what": f"failed: {type(err).__name__}: "
                                                    f"{str(err).splitlines()[0][:200]}"})
    return benchlib.finish(
        args, NAME, machine, rows,
        ["part", "what", "seconds", "gflop", "gflop_per_s", "fraction_of_peak", "share",
         "vs_float32", "vs_eager"],
        repeats=args.repeats, matmul_peak_gflop_per_s=peak, model="proposed (untrained)")


if __name__ == "__main__":
    main()
