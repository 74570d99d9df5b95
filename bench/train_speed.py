"""Training speed: sertk's real training path beside a plain-PyTorch loop, in one run.

Both sides train ``sertk.models.create_model("proposed", 7)`` with Adam (1e-4),
cross-entropy and batch 32 on the same pre-computed log-mels, in the same process:

- **reference**: the paper's recipe done naively: every clip padded to 4 s
  (401 frames) up front, a python list of ``(features, label)`` pairs, a torch
  ``DataLoader`` with the default collate and ``shuffle=True``, and the textbook
  ``zero_grad / loss.backward / step`` loop; the model never sees lengths.
- **sertk**: ``sertk.train.fitting`` (what ``sertk train`` runs: in-memory feature
  datasets, the epoch sampler and collate, the Lightning module and trainer with
  its callbacks) on the same features, for a fixed number of steps. A timing
  callback is added to the trainer it builds (and nothing else changes).

Every step is timed from one batch request to the next (data loading + forward +
backward + optimiser + hooks); the first ``--warmup`` steps are dropped and the
figure is the median step (robust to other users' load), as utterances/second. The
reference runs before and after sertk on each corpus and its steps are pooled.

Corpora: synthetic 4 s clips, synthetic 2 s clips (random log-mels), the real
EmoDB-2s clips (all 2.000 s long), and ``iemocap-like``: random log-mels whose durations
follow an IEMOCAP-like mix (log-normal, 5 % under 1 s, 25 % over 4 s, cut at 4 s; see
``bench/benchdata.py``) beside its equal-length twin ``iemocap-like-equal`` (as many clips,
each of the mean duration: the same total frames). ``padding=fixed`` is the paper's recipe
(same math as the reference); ``padding=batch`` pads to the longest clip of each batch,
``+ bucketed`` also groups clips of similar length (``batching: bucketed``). Each row of
the variable-length corpus is followed by its twin's row, and ``step_vs_equal`` is its
median step over the twin's (1.0: lengths cost nothing beyond their frames). The row
``padding=batch, packed BLSTM (before)`` runs the BLSTM on packed sequences, as sertk did
before its dense variable-length BLSTM; ``x_before`` is each path's throughput over it.
On EmoDB-2s the shipped recipes ``configs/paper.yaml`` and ``configs/best.yaml`` are timed
too (``x_paper_recipe``: step time over the paper recipe's, i.e. the epoch-time ratio), and
``configs/best.yaml`` once more with ``precision: bf16-mixed`` (bfloat16 autocast) where the
CPU computes bfloat16 natively (AVX-512 BF16 or AMX).

    python bench/train_speed.py            # ~4 min on 2 cores
    python bench/train_speed.py --quick    # smoke test (tiny model, seconds)
"""
from __future__ import annotations

import logging
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np

import benchdata
import benchlib

NAME = "train_speed"
N_CLASSES = 7
BATCH = 32


@dataclass
class Corpus:
    """Unpadded log-mels ``{id: (n_mels, frames)}`` with labels."""

    name: str
    features: dict[str, np.ndarray]
    labels: dict[str, str]

    @property
    def seconds(self) -> float:
        return float(np.mean([f.shape[1] - 1 for f in self.features.values()])) / 100


def synthetic_corpus(name: str, size: int, seconds: float | np.ndarray, seed: int = 0) -> Corpus:
    """``size`` random log-mel clips of ``seconds`` each (one duration, or one per clip;
    1 + 100 * seconds frames)."""
    rng = np.random.default_rng(seed)
    frames = benchdata.seconds_to_frames(np.broadcast_to(np.asarray(seconds, float), (size,)))
    labels = [f"c{i}" for i in range(N_CLASSES)]
    features, names = {}, {}
    for i in range(size):
        uid = f"{name}-{i:05d}"
        features[uid] = rng.standard_normal((40, int(frames[i])), dtype=np.float32) - 5.0
        names[uid] = labels[i % N_CLASSES]
    return Corpus(name, features, names)


def length_mix_corpora(size: int) -> list[Corpus]:
    """The IEMOCAP-like corpus and its equal-length twin (same clips count and total frames)."""
    seconds = benchdata.iemocap_like_seconds(size)
    return [synthetic_corpus("iemocap-like", size, seconds),
            synthetic_corpus("iemocap-like-equal", size, benchdata.equal_twin(seconds), seed=1)]


TWINS = {"iemocap-like": "iemocap-like-equal"}
# path name -> (padding, batching, BLSTM path); "packed" is how sertk ran batch padding before
# its dense variable-length BLSTM (the baseline of ``x_before``)
PATHS = {"fixed": ("fixed", "random", "dense"), "batch": ("batch", "random", "dense"),
         "batch + bucketed": ("batch", "bucketed", "dense"),
         "batch, packed BLSTM (before)": ("batch", "random", "packed")}
BEFORE = "sertk fit, padding=batch, packed BLSTM (before)"
RECIPES = ("paper", "best")  # configs/<name>.yaml, timed on EmoDB-2s


def emodb_corpus(data: str | None, limit: int | None) -> Corpus:
    """Log-mels of the real EmoDB-2s clips (computed once, untimed); emotion from the name."""
    from sertk.data.cache import compute_features

    files = benchlib.emodb_files(data, limit)
    feats = compute_features(files)
    ids = [f.stem for f in files]
    return Corpus("emodb-2s", dict(zip(ids, feats)), {i: i[5] for i in ids})


def utterances_of(corpus: Corpus):
    from sertk.data.manifest import Utterance

    return [Utterance(id=i, path=f"{i}.wav", label=corpus.labels[i], speaker=i[:2])
            for i in corpus.features]


class StepClock:
    """Timestamps at every batch request; ``step_times`` are the gaps between them."""

    def __init__(self):
        self.stamps: list[float] = []

    def tick(self) -> None:
        self.stamps.append(time.perf_counter())

    def step_times(self, warmup: int) -> list[float]:
        gaps = np.diff(self.stamps).tolist()
        return gaps[warmup:]


def reference_loop(corpus: Corpus, steps: int, model_args: dict, seed: int = 0) -> StepClock:
    """The naive plain-PyTorch recipe; returns the step clock."""
    import torch
    from torch.utils.data import DataLoader

    from sertk.models import create_model

    frames = 401  # 4 s
    labels = sorted(set(corpus.labels.values()))
    feats = np.concatenate([f[:, :frames] for f in corpus.features.values()], axis=1)
    mean, std = feats.mean(axis=1), feats.std(axis=1)  # (toy) normalisation
    data = []
    for uid, f in corpus.features.items():
        x = torch.zeros(40, frames)
        clip = torch.from_numpy((f[:, :frames] - mean[:, None]) / std[:, None])
        x[:, :clip.shape[1]] = clip
        data.append((x, labels.index(corpus.labels[uid])))
    torch.manual_seed(seed)
    model = create_model("proposed", N_CLASSES, **model_args)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True)
    model.train()
    clock, done = StepClock(), 0
    clock.tick()
    while done < steps:
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            clock.tick()
            done += 1
            if done == steps:
                break
    return clock


def sertk_fit(corpus: Corpus, steps: int, padding: str, model_args: dict,
              threads: int, batching: str = "random", recipe=None) -> tuple[StepClock, float]:
    """``sertk.train.fitting`` on the corpus for ``steps`` steps; (step clock, fit wall seconds).

    ``recipe``: a :class:`~sertk.train.config.TrainConfig` to time (its own padding,
    batching and augmentations); by default the paper's recipe with ``padding``/``batching``.
    """
    import lightning as L

    from sertk.train import fitting as fit_module
    from sertk.train.config import TrainConfig

    fit = fit_module.fit

    clock = StepClock()

    class Timer(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            clock.tick()

        def on_train_epoch_end(self, trainer, pl_module):
            clock.tick()

    build_trainer = fit_module.build_trainer

    def with_timer(config, directory, callbacks, **kwargs):
        return build_trainer(config, directory, [*callbacks, Timer()], **kwargs)

    per_epoch = -(-len(corpus.features) // BATCH)
    base = recipe or TrainConfig.of(model="proposed", padding=padding, batching=batching)
    config = base.replace(model_args={**base.model.args, **model_args}, protocol="final",
                          val_fraction=0.0, max_epochs=-(-steps // per_epoch),
                          limit_train_batches=min(steps, per_epoch), batch_size=BATCH,
                          progress_bar=False, num_threads=threads, accelerator="cpu",
                          warmup_epochs=0)
    labels = sorted(set(corpus.labels.values()))
    fit_module.build_trainer = with_timer
    try:
        with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fit(config, utterances_of(corpus), out_dir=out, features=corpus.features,
                labels=labels)
            wall = time.perf_counter() - start
    finally:
        fit_module.build_trainer = build_trainer
    # epoch ends tick twice (last step end, then next epoch's first batch): keep step gaps only
    clock.stamps = _drop_epoch_gaps(clock.stamps, config.runtime.limit_train_batches)
    return clock, wall


def _drop_epoch_gaps(stamps: list[float], per_epoch: int) -> list[float]:
    """Timestamps of one epoch's batches end at its epoch-end tick; the gap from there to the
    next epoch's first batch is set-up, not a step. Re-base every epoch after the first."""
    out: list[float] = []
    epoch_len = per_epoch + 1  # batch starts + the epoch-end tick
    for start in range(0, len(stamps), epoch_len):
        chunk = stamps[start:start + epoch_len]
        if out:  # shift so this epoch's first step follows the last one directly
            shift = chunk[0] - out[-1]
            chunk = [s - shift for s in chunk]
            chunk = chunk[1:]
        out.extend(chunk)
    return out


def summarise(clock: StepClock, warmup: int) -> dict:
    return summarise_pooled([clock], warmup)


def summarise_pooled(clocks: list[StepClock], warmup: int) -> dict:
    """Median step over the timed steps of one or more runs -> utterances/second."""
    times = [t for clock in clocks for t in clock.step_times(warmup)]
    step = statistics.median(times)
    return {"steps": len(times), "median_step_s": step, "mean_step_s": float(np.mean(times)),
            "utt_per_s": BATCH / step}


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--data", help="EmoDB-2s folder (default: $SERTK_TEST_DATA/emodb-2s)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    p.add_argument("--corpora", default="synthetic-4s,synthetic-2s,emodb-2s,iemocap-like",
                   help="comma-separated subset of synthetic-4s, synthetic-2s, emodb-2s, "
                        "iemocap-like (with its equal-length twin)")
    args = p.parse_args(argv)
    model_args: dict = {}
    if args.quick:  # a tiny network: exercises every path in seconds
        args.steps, args.warmup = 2, 1
        model_args = {"hidden": 16, "n_heads": 2, "blstm_ffn_dim": 32, "transformer_ffn_dim": 32,
                      "n_transformer": 1, "n_blstm": 1}
    machine = benchlib.setup(args)
    import lightning  # noqa: F401  (creates its loggers, which we quieten)
    import torch

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)

    threads = torch.get_num_threads()
    size = BATCH * (args.steps + args.warmup)
    corpora = []
    for name in args.corpora.split(","):
        if name == "emodb-2s":
            corpora.append(emodb_corpus(args.data, size if args.quick else None))
        elif name == "iemocap-like":
            corpora.extend(length_mix_corpora(size))
        elif name.startswith("synthetic-") and name.endswith("s"):
            corpora.append(synthetic_corpus(name, size, float(name[10:-1])))
        else:
            raise SystemExit(f"unknown corpus {name!r}")

    total = args.steps + args.warmup
    rows = []
    for corpus in corpora:
        # the reference runs before and after sertk (pooled), so neither side gains from
        # running second (warm allocator and kernel caches) or from a drift in load
        first = reference_loop(corpus, total, model_args)
        ours_rows = []
        paths = ["fixed"] + (["batch"] if corpus.seconds < 3.99 or args.quick else [])
        if corpus.name in TWINS or corpus.name in TWINS.values():
            paths += ["batch + bucketed", "batch, packed BLSTM (before)"]
        for path in paths:
            padding, batching, blstm = PATHS[path]
            with benchlib.blstm_path(blstm):
                clock, wall = sertk_fit(corpus, total, padding, model_args, threads, batching)
            ours_rows.append({"corpus": corpus.name, "clip_s": corpus.seconds,
                              "path": f"sertk fit, padding={path}",
                              **summarise(clock, args.warmup), "fit_wall_s": wall})
        if corpus.name == "emodb-2s":
            ours_rows += recipe_rows(corpus, total, model_args, threads, args.warmup)
        second = reference_loop(corpus, total, model_args) if not args.quick else None
        ref = summarise_pooled([c for c in (first, second) if c], args.warmup)
        rows.append({"corpus": corpus.name, "clip_s": corpus.seconds,
                     "path": "reference (pad to 4 s)", **ref, "ratio_vs_reference": 1.0})
        for row in ours_rows:
            rows.append({**row, "ratio_vs_reference": row["utt_per_s"] / ref["utt_per_s"]})
    rows = against_before(beside_twins(rows))
    return benchlib.finish(
        args, NAME, machine, rows,
        ["corpus", "clip_s", "path", "utt_per_s", "median_step_s", "mean_step_s",
         "ratio_vs_reference", "step_vs_equal", "x_before", "x_paper_recipe"],
        batch=BATCH, model="proposed", n_classes=N_CLASSES, model_args=model_args,
        warmup_steps=args.warmup, timed_steps=args.steps)


def recipe_rows(corpus: Corpus, steps: int, model_args: dict, threads: int,
                warmup: int) -> list[dict]:
    """The shipped recipes (``configs/paper.yaml``: 4 s padding; ``configs/best.yaml``: batch
    padding plus SpecAugment, speed and gain perturbation, ...) on the same clips, each row with
    ``x_paper_recipe``: its median step over the paper recipe's. Both recipes run the same
    number of steps per epoch, so the step ratio is the epoch-time ratio."""
    from sertk.quantize import cpu_has_bf16
    from sertk.train.config import resolve_config

    recipes = [(name, resolve_config(benchlib.REPO / "configs" / f"{name}.yaml"), "")
               for name in RECIPES]
    if cpu_has_bf16():  # the last recipe again with bfloat16 autocast (Lightning bf16-mixed)
        name, recipe, _ = recipes[-1]
        recipes.append((name, recipe.replace(precision="bf16-mixed"), ", precision=bf16-mixed"))
    rows = []
    for name, recipe, note in recipes:
        clock, wall = sertk_fit(corpus, steps, "", model_args, threads, recipe=recipe)
        rows.append({"corpus": corpus.name, "clip_s": corpus.seconds,
                     "path": f"sertk fit, recipe configs/{name}.yaml{note}",
                     **summarise(clock, warmup), "fit_wall_s": wall})
    for row in rows:
        row["x_paper_recipe"] = row["median_step_s"] / rows[0]["median_step_s"]
    return rows


def against_before(rows: list[dict]) -> list[dict]:
    """Give every row of a corpus that has the former packed-BLSTM row ``x_before``: its
    throughput over that row's (the issue's "today's sertk, padding=batch")."""
    before = {r["corpus"]: r["utt_per_s"] for r in rows if r["path"] == BEFORE}
    return [{**r, "x_before": r["utt_per_s"] / before[r["corpus"]]}
            if r["corpus"] in before and r["path"].startswith("sertk") else r for r in rows]


def beside_twins(rows: list[dict]) -> list[dict]:
    """Put every row of a variable-length corpus right before its equal-length twin's row
    (same path) and give both ``step_vs_equal``: median step over the twin's."""
    twin_of = {v: k for k, v in TWINS.items()}
    by_key = {(r["corpus"], r["path"]): r for r in rows}
    out = []
    for row in rows:
        if row["corpus"] in twin_of:
            continue  # placed with its variable-length row
        twin = by_key.get((TWINS.get(row["corpus"]), row["path"]))
        if twin is None:
            out.append(row)
            continue
        out.append({**row, "step_vs_equal": row["median_step_s"] / twin["median_step_s"]})
        out.append({**twin, "step_vs_equal": 1.0})
    return out


if __name__ == "__main__":
    main()
