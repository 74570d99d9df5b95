"""How cost grows: prediction time and memory vs audio length, and training memory.

1. ``predict_long`` (what ``sertk predict --segment 4`` runs: streamed decoding,
   4 s windows, batches of 32) on files of real speech from 1 s to 30 min. Each
   length runs in a fresh process, which reports its wall time and peak resident
   memory (and its memory once the model is loaded), so the figures do not leak
   into each other. Linear cost shows as a constant time per audio second and a
   flat peak memory.
2. Training memory on an IEMOCAP-sized synthetic corpus (5531 utterances of 4 s
   log-mels, float32 as the feature cache hands them out), each in a fresh process:
   the features alone; plus the fold's in-memory datasets (``fold_datasets``); plus a
   few training steps of ``sertk.train.fitting`` (batch 32, the paper's recipe).
3. The same few training steps (wall time and memory) on an IEMOCAP-sized corpus whose
   durations follow the IEMOCAP-like mix of ``bench/benchdata.py`` (log-normal, 5 % under
   1 s, 25 % over 4 s, cut at 4 s) with ``padding=batch``, beside its equal-length twin (as
   many clips, each of the mean duration: the same total frames); ``wall_vs_equal`` is the
   row's wall time over its twin's.

4. With ``--ssl-store N1,N2,...`` (only this part runs; it writes
   ``bench/results/scaling_ssl_store.json``): an SSL model (``ssl-linear``) on a tiny
   random WavLM with the real models' CNN strides (50 frames/s, 2 layers of width 32),
   ``N`` synthetic 2 s clips. One fresh process computes the encoder's hidden states into
   the feature store (:mod:`sertk.data.store`); then, for each ``N``, a fresh process runs
   one whole training epoch through ``sertk.train.fit`` (protocol ``final``, batch 32),
   reading the stored features lazily, and reports its peak resident memory beside the
   store's size on disk (what an in-memory dataset would hold, as float16).

    python bench/scaling.py            # ~3 min on 2 cores
    python bench/scaling.py --quick    # smoke test (seconds)
    python bench/scaling.py --ssl-store 2000,20000   # ~15 min on 2 cores
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import benchdata
import benchlib

NAME = "scaling"
LENGTHS = (1.0, 10.0, 60.0, 300.0, 1800.0)
IEMOCAP_SIZE = 5531
MIXES = ("4s", "iemocap-like", "iemocap-like-equal")  # the training corpus' clip durations


# ------------------------------------------------------------------ workers (fresh processes)

def worker_predict(args) -> dict:
    from sertk.infer import SegmentOptions, load_model, predict_long

    predictor = load_model(args.ckpt, device="cpu")
    loaded = benchlib.rss_mb()
    start = time.perf_counter()
    result = predict_long(predictor, args.file, SegmentOptions(args.segment))
    wall = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"prediction failed: {result.error}")
    return {"wall_s": wall, "windows": len(result.windows), "duration_s": result.duration,
            "rss_model_loaded_mb": loaded, "peak_rss_mb": benchlib.peak_rss_mb()}


def worker_train(args) -> dict:
    """Features -> [datasets] -> [fit for a few steps]; memory after each stage.

    Everything is imported before the first figure, so ``rss_start_mb`` is the cost of
    the libraries and the rest is data and training.
    """
    import warnings

    import torch

    from sertk.data.manifest import Utterance
    from sertk.data.splits import Fold
    from sertk.features import FeatureConfig
    from sertk.train.config import TrainConfig
    from sertk.train.datamodule import fold_datasets

    from sertk.train import fit
    labels = ["ang", "hap", "neu", "sad"]
    frames = FeatureConfig().max_frames
    torch.set_num_threads(args.threads or 1)
    out = {"rss_start_mb": benchlib.rss_mb()}
    rng = np.random.default_rng(0)
    if args.mix == "4s":
        clip_frames = np.full(args.utterances, frames)
    else:
        seconds = benchdata.iemocap_like_seconds(args.utterances)
        if args.mix == "iemocap-like-equal":
            seconds = benchdata.equal_twin(seconds)
        clip_frames = benchdata.seconds_to_frames(seconds)
    features = {f"u{i:05d}": rng.standard_normal((40, int(n)), dtype=np.float32) - 5.0
                for i, n in enumerate(clip_frames)}
    utterances = [Utterance(id=k, path=f"{k}.wav", label=labels[i % 4], speaker=f"s{i % 10}")
                  for i, k in enumerate(features)]
    out["features_mb"] = sum(f.nbytes for f in features.values()) / 2**20
    out["rss_features_mb"] = benchlib.rss_mb()
    config = TrainConfig.of(protocol="final", val_fraction=0.1, max_epochs=1,
                         padding="fixed" if args.mix == "4s" else "batch",
                         limit_train_batches=args.steps, limit_val_batches=0,
                         progress_bar=False, accelerator="cpu",
                         model_args=benchdata.TINY_MODEL if args.tiny else {})
    if args.stage == "datasets":
        ids = list(features)
        cut = len(ids) - len(ids) // 10  # 10 % validation, as val_fraction=0.1
        fold = Fold(0, "final", tuple(ids[:cut]), tuple(ids[cut:]), ())
        data = fold_datasets(features, utterances, fold, labels, FeatureConfig())
        out["rss_datasets_mb"] = benchlib.rss_mb()
        out["train_items"] = len(data.train)
    elif args.stage == "fit":
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fit(config, utterances, out_dir=tmp, features=features, labels=labels)
            out["wall_s"] = time.perf_counter() - start
        out["steps"] = args.steps
    out["peak_rss_mb"] = benchlib.peak_rss_mb()
    return out


SSL_CLIP_SECONDS = 2.0


def tiny_strided_encoder(directory: Path) -> Path:
    """A random 2-layer, 32-wide WavLM with the CNN strides of the real models (320)."""
    import torch
    import transformers

    if (directory / "config.json").is_file():
        return directory
    torch.manual_seed(0)
    config = transformers.WavLMConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer", num_buckets=32, max_bucket_distance=80)
    transformers.WavLMModel(config).save_pretrained(directory)
    return directory


def ssl_corpus(root: Path, n: int):
    """``n`` utterances over placeholder wav files (their identity keys the store; their
    2 s of audio are synthesised from the name, so that 20k clips cost little disk)."""
    import soundfile as sf

    from sertk.data.manifest import Utterance

    labels = ["ang", "hap", "neu", "sad"]
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    utterances = []
    for i in range(n):
        path = audio / f"u{i:06d}.wav"
        if not path.is_file():
            sf.write(path, np.zeros(160, np.float32), 16000)
        utterances.append(Utterance(id=f"u{i:06d}", path=str(path), label=labels[i % 4],
                                    speaker=f"s{i % 10}"))
    return utterances


def synthetic_wave(path: str) -> np.ndarray:
    seed = int(Path(path).stem[1:])
    rng = np.random.default_rng(seed)
    t = np.arange(int(SSL_CLIP_SECONDS * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * (150 + seed % 400) * t)
            + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def ssl_config(root: Path, batch_size: int = 32):
    from sertk.train.config import TrainConfig

    return TrainConfig.of(model="ssl-linear", model_args={"encoder": str(root / "encoder"),
                                                       "hidden": 32},
                       protocol="final", val_fraction=0.1, max_epochs=1, padding="batch",
                       batch_size=batch_size, max_seconds=SSL_CLIP_SECONDS,
                       limit_val_batches=0, progress_bar=False, accelerator="cpu",
                       cache_dir=str(root / "cache"))


def worker_ssl_build(args) -> dict:
    """Hidden states of every clip into the store (the cost paid once per corpus)."""
    from sertk.models import create_model
    from sertk.train.ssl_data import hidden_state_computer, store_for

    root = Path(args.root)
    tiny_strided_encoder(root / "encoder")
    utterances = ssl_corpus(root, args.utterances)
    config = ssl_config(root)
    model = create_model(config.model.name, n_classes=4, **config.model.args).eval()
    store = store_for(model, config.features, config.data.cache_dir)
    start = time.perf_counter()
    report = store.build(utterances, hidden_state_computer(model), synthetic_wave,
                         batch_size=32, progress=False)
    report.raise_for_failures()
    disk = sum(f.stat().st_size for f in store.directory.glob("shard-*.npy"))
    return {"wall_s": time.perf_counter() - start, "computed": report.computed,
            "store_mb": disk / 2**20, "peak_rss_mb": benchlib.peak_rss_mb()}


def worker_ssl_train(args) -> dict:
    """One whole epoch of ssl-linear on the first ``utterances`` stored clips."""
    import warnings

    import sertk.train.ssl_data  # noqa: F401  (imported before the first figure)
    from sertk.train import fit

    root = Path(args.root)
    utterances = ssl_corpus(root, args.utterances)
    out = {"rss_start_mb": benchlib.rss_mb()}
    config = ssl_config(root)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        fit(config, utterances, out_dir=tmp, labels=["ang", "hap", "neu", "sad"])
        out["wall_s"] = time.perf_counter() - start
    out["peak_rss_mb"] = benchlib.peak_rss_mb()
    return out


def ssl_store_rows(args, threads: str) -> list[dict]:
    sizes = [int(n) for n in args.ssl_store.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        build = run_worker("ssl-build", "--root", tmp, "--utterances", str(max(sizes)),
                           "--threads", threads)
        rows.append({"part": "ssl store: build (encoder once)", "utterances": max(sizes),
                     **build})
        for n in sizes:
            r = run_worker("ssl-train", "--root", tmp, "--utterances", str(n),
                           "--threads", threads)
            rows.append({"part": "ssl store: train 1 epoch (fit)", "utterances": n, **r,
                         "features_mb": build["store_mb"] * n / max(sizes)})  # equal clips
    trained = [r for r in rows if "train" in r["part"]]
    for r in trained:
        r["peak_vs_smallest"] = r["peak_rss_mb"] / trained[0]["peak_rss_mb"]
    return rows


def run_worker(*argv: str) -> dict:
    """Run this script in a fresh process in worker mode; its JSON result."""
    proc = subprocess.run([sys.executable, __file__, "--worker", *argv], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker {argv} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ driver

def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--data", help="EmoDB-2s folder (default: $SERTK_TEST_DATA/emodb-2s)")
    p.add_argument("--lengths", default=",".join(f"{x:g}" for x in LENGTHS),
                   help="audio lengths in seconds, comma-separated")
    p.add_argument("--segment", type=float, default=4.0, help="window length (s)")
    p.add_argument("--utterances", type=int, default=IEMOCAP_SIZE,
                   help="training corpus size (4 s each)")
    p.add_argument("--steps", type=int, default=3, help="training steps measured")
    p.add_argument("--stages", default="features,datasets,fit",
                   help="training-memory stages to run, comma-separated")
    p.add_argument("--no-mix", action="store_true",
                   help="skip the IEMOCAP-like length mix and its equal-length twin")
    # worker mode (internal)
    p.add_argument("--ssl-store", default="",
                   help="only the SSL feature-store part, for these corpus sizes "
                        "(comma-separated, e.g. 2000,20000)")
    p.add_argument("--worker", choices=["predict", "train", "ssl-build", "ssl-train"],
                   help=argparse_hidden())
    p.add_argument("--root", help=argparse_hidden())
    p.add_argument("--file", help=argparse_hidden())
    p.add_argument("--ckpt", help=argparse_hidden())
    p.add_argument("--stage", choices=["features", "datasets", "fit"], help=argparse_hidden())
    p.add_argument("--tiny", action="store_true", help=argparse_hidden())
    p.add_argument("--mix", choices=MIXES, default="4s", help=argparse_hidden())
    args = p.parse_args(argv)
    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        workers = {"predict": worker_predict, "train": worker_train,
                   "ssl-build": worker_ssl_build, "ssl-train": worker_ssl_train}
        result = workers[args.worker](args)
        print(json.dumps(result))
        return result
    if args.ssl_store:
        if args.out == benchlib.RESULTS / f"{NAME}.json":
            args.out = benchlib.RESULTS / f"{NAME}_ssl_store.json"
        machine = benchlib.setup(args)
        rows = ssl_store_rows(args, str(machine["torch_threads"]))
        columns = ["part", "utterances", "wall_s", "store_mb", "features_mb", "rss_start_mb",
                   "peak_rss_mb", "peak_vs_smallest"]
        return benchlib.finish(args, NAME, machine, rows, columns,
                               clip_seconds=SSL_CLIP_SECONDS)
    if args.quick:
        args.lengths, args.utterances, args.steps, args.stages = "1,8", 64, 1, "fit"
    machine = benchlib.setup(args)
    lengths = [float(x) for x in args.lengths.split(",")]
    sources = benchlib.emodb_files(args.data, 8 if args.quick else None)
    threads = str(machine["torch_threads"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = benchdata.make_checkpoint(tmp / "ckpt", sources, tiny=args.quick)
        for seconds in lengths:
            audio = benchdata.write_speech(tmp / f"speech-{seconds:g}s.wav", sources, seconds)
            r = run_worker("predict", "--file", str(audio), "--ckpt", str(ckpt), "--segment",
                           str(args.segment), "--threads", threads)
            audio.unlink()
            rows.append({"part": "predict --segment", "audio_s": seconds, **r,
                         "ms_per_audio_s": 1000 * r["wall_s"] / seconds,
                         "x_realtime": seconds / r["wall_s"]})
    fit_rows = [r for r in rows if r["audio_s"] >= 10]
    slope = (np.polyfit([r["audio_s"] for r in fit_rows], [r["wall_s"] for r in fit_rows], 1)
             .tolist() if len(fit_rows) >= 2 else None)
    for stage in args.stages.split(","):
        extra = ["--tiny"] if args.quick else []
        r = run_worker("train", "--stage", stage, "--utterances", str(args.utterances),
                       "--steps", str(args.steps), "--threads", threads, *extra)
        rows.append({"part": f"train memory: {stage}", "utterances": args.utterances, **r})
    if not args.no_mix:
        rows.extend(length_mix_rows(args, threads))
    columns = ["part", "audio_s", "utterances", "wall_s", "ms_per_audio_s", "x_realtime",
               "rss_model_loaded_mb", "rss_start_mb", "peak_rss_mb", "wall_vs_equal"]
    return benchlib.finish(args, NAME, machine, rows, columns, segment_s=args.segment,
                           linear_fit_wall_s_vs_audio_s=slope)


def length_mix_rows(args, threads: str) -> list[dict]:
    """A few training steps on the IEMOCAP-like mix, then on its equal-length twin."""
    rows = []
    for mix in MIXES[1:]:
        extra = ["--tiny"] if args.quick else []
        r = run_worker("train", "--stage", "fit", "--mix", mix, "--utterances",
                       str(args.utterances), "--steps", str(args.steps), "--threads", threads,
                       *extra)
        rows.append({"part": f"train: fit, {mix}, padding=batch", "utterances": args.utterances,
                     **r})
    for row in rows:
        row["wall_vs_equal"] = row["wall_s"] / rows[-1]["wall_s"]
    return rows


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
