"""Variable-length BLSTM: the dense exact path beside the packed one, and the equal-length twin.

One training step (forward, backward, Adam) of ``proposed`` on a batch of 32 log-mel clips,
three ways in one run, interleaved repetition by repetition so load drifts hit all alike:

- **equal**: every clip has the same number of frames (the mean of the variable batch,
  so the same total frames); no lengths reach the model (no masks).
- **variable, packed**: lengths differ (uniform in ``--min-frames``..``--max-frames``);
  the BLSTM runs on packed sequences (``pack_padded_sequence``, what sertk did before).
- **variable, dense**: the same batch through sertk's exact dense BLSTM
  (:mod:`sertk.models.varlen_lstm`).

Each row gives the median step and its ratio to the equal-length step (the issue's target:
variable <= 1.25x equal). A BLSTM-block-only table (forward + backward) isolates the layer.

    python bench/varlen_blstm.py            # ~1 min on 2 cores
    python bench/varlen_blstm.py --quick    # smoke test (tiny model, seconds)
"""
from __future__ import annotations

import time

import benchlib
from benchlib import blstm_path

NAME = "varlen_blstm"
BATCH = 32


def batches(lengths, n_mels: int, seed: int = 0):
    """(variable batch, its lengths, the equal-length twin with the same total frames)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.as_tensor(lengths)
    variable = torch.randn(len(lengths), n_mels, int(lengths.max()), generator=g)
    equal = torch.randn(len(lengths), n_mels, round(float(lengths.float().mean())), generator=g)
    return variable, lengths, equal


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--min-frames", type=int, default=180)
    p.add_argument("--max-frames", type=int, default=222)
    p.add_argument("--repeats", type=int, default=7, help="timed steps per path")
    args = p.parse_args(argv)
    model_args: dict = {}
    if args.quick:
        args.repeats = 2
        model_args = {"hidden": 16, "n_heads": 2, "blstm_ffn_dim": 32,
                      "transformer_ffn_dim": 32, "n_transformer": 1, "n_blstm": 1}
    machine = benchlib.setup(args)
    import torch

    from sertk.models import create_model
    from sertk.models.blocks import BLSTM

    torch.manual_seed(0)
    lengths = torch.randint(args.min_frames, args.max_frames + 1, (BATCH,))
    lengths[0] = args.max_frames
    x_var, lengths, x_eq = batches(lengths, 40)
    labels = torch.arange(BATCH) % 7

    model = create_model("proposed", 7, **model_args).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    hidden = model.config.hidden
    block = BLSTM(hidden, hidden, 0.2).train()
    h_var = torch.randn(BATCH, x_var.shape[2], hidden)
    h_eq = torch.randn(BATCH, x_eq.shape[2], hidden)

    def train_step(x, lens):
        loss = torch.nn.functional.cross_entropy(model(x, lens), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def block_step(h, lens):
        block.zero_grad()
        block(h, lens).square().mean().backward()

    cases = {"equal": (None, x_eq, h_eq), "variable, packed": ("packed", x_var, h_var),
             "variable, dense": ("dense", x_var, h_var)}
    rows = []
    for scope, run in (("training step", train_step), ("BLSTM block fwd+bwd", block_step)):
        times = {name: [] for name in cases}
        for rep in range(args.repeats + 1):  # the first round warms up, untimed
            for name, (path, x, h) in cases.items():
                lens = None if path is None else lengths
                with blstm_path(path or "dense"):
                    start = time.perf_counter()
                    run(x if scope == "training step" else h, lens)
                    if rep:
                        times[name].append(time.perf_counter() - start)
        equal = sorted(times["equal"])[len(times["equal"]) // 2]
        for name, (_, x, _) in cases.items():
            step = sorted(times[name])[len(times[name]) // 2]
            total = int(lengths.sum()) if name != "equal" else x.shape[0] * x.shape[2]
            rows.append({"scope": scope, "batch": name, "total_frames": total,
                         "padded_frames": x.shape[0] * x.shape[2], "median_step_s": step,
                         "ratio_vs_equal": step / equal})
    return benchlib.finish(
        args, NAME, machine, rows,
        ["scope", "batch", "total_frames", "padded_frames", "median_step_s", "ratio_vs_equal"],
        batch=BATCH, model="proposed", model_args=model_args,
        lengths=lengths.tolist(), repeats=args.repeats)


if __name__ == "__main__":
    main()
