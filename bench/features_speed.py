"""sertk's log-mel front-end against librosa on the same real files (EmoDB-2s).

Both sides compute the same numbers (SPEC section 1: 25 ms Hamming, 10 ms hop, 512-point
FFT, 40 Slaney mels, log(power + 1e-6)); the script checks that they agree. Stages:

- decode: file -> 16 kHz mono float32 (``sertk.audio.load_audio`` vs ``librosa.load``;
  both resample with soxr HQ, so this row shows the shared cost, not a speed-up);
- log-mel, one clip per call and over batches of clips (sertk's batched ``LogMel``, as
  the feature cache calls it; librosa has no batch API, so its time is per clip);
- files -> log-mels: decode + log-mel, as a feature-extraction job does it
  (``sertk.data.cache.compute_features``);
- cache hit: what training reads once the feature cache is built (``FeatureCache.get``).

Each figure is the median over ``--repeats`` passes over all files. Run::

    python bench/features_speed.py                  # all 535 clips (~1 min)
    python bench/features_speed.py --limit 100 --quick
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import benchlib

NAME = "features_speed"


def librosa_logmel(wave: np.ndarray) -> np.ndarray:
    """librosa's log-mel with the front-end's numbers (as tests/test_features.py)."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=wave, sr=16000, n_fft=512, hop_length=160, win_length=400, window="hamming",
        center=True, pad_mode="constant", power=2.0, n_mels=40, htk=False, norm="slaney")
    return np.log(power + 1e-6)


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--data", help="EmoDB-2s folder (default: $SERTK_TEST_DATA/emodb-2s)")
    p.add_argument("--limit", type=int, default=0, help="use the first N files (0: all)")
    p.add_argument("--repeats", type=int, default=5, help="passes per figure (median)")
    p.add_argument("--batches", default="1,4,16,32",
                   help="clips per log-mel call to time, comma-separated")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.repeats = args.limit or 8, 1
    args.batches = [int(b) for b in str(args.batches).split(",")]
    machine = benchlib.setup(args)

    import librosa
    import torch

    from sertk.audio import load_audio
    from sertk.data.cache import BATCH_SIZE as CACHE_BATCH
    from sertk.data.cache import FeatureCache, compute_features, logmel_batch
    from sertk.features import FeatureConfig, LogMel

    files = benchlib.emodb_files(args.data, args.limit or None)
    config = FeatureConfig()
    logmel = LogMel(config)
    waves = [load_audio(f) for f in files]
    seconds = sum(len(w) for w in waves) / config.sample_rate
    n = len(files)

    def sertk_batched(batch: int):
        def run():
            for i in range(0, n, batch):
                logmel_batch(waves[i:i + batch], logmel)
        return run

    def librosa_files():
        for f in files:
            librosa_logmel(librosa.load(f, sr=config.sample_rate, res_type="soxr_hq")[0])

    def timed(fn):
        return benchlib.median_time(fn, args.repeats)

    # same numbers on both sides (the cache stores what logmel_batch returns)
    ours = [f for i in range(0, n, CACHE_BATCH)
            for f in logmel_batch(waves[i:i + CACHE_BATCH], logmel)]
    diff = max(float(np.abs(a - librosa_logmel(w)).max()) for a, w in zip(ours, waves))

    results = {
        "decode": (timed(lambda: [load_audio(f) for f in files]),
                   timed(lambda: [librosa.load(f, sr=config.sample_rate, res_type="soxr_hq")
                                  for f in files])),
    }
    librosa_logmels = timed(lambda: [librosa_logmel(w) for w in waves])
    for batch in args.batches:
        label = "1 clip per call" if batch == 1 else f"batches of {batch}"
        if batch == CACHE_BATCH:
            label += " (the feature cache's)"
        results[f"log-mel, {label}"] = (timed(sertk_batched(batch)), librosa_logmels)
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
        results[f"log-mel, batches of {CACHE_BATCH}, 1 thread"] = (
            timed(sertk_batched(CACHE_BATCH)), librosa_logmels)
        torch.set_num_threads(threads)
    librosa_total = timed(librosa_files)
    results["files -> log-mels (decode + log-mel)"] = (timed(lambda: compute_features(files)),
                                                      librosa_total)
    with tempfile.TemporaryDirectory() as root:
        cache = FeatureCache(root, config)
        cache.build(files, progress=False).raise_for_failures()
        results["files -> log-mels, feature cache hit"] = (
            timed(lambda: [cache.get(f) for f in files]), librosa_total)

    rows = []
    for stage, (ours_s, theirs_s) in results.items():
        rows.append({"stage": stage, "sertk_ms_per_clip": 1000 * ours_s / n,
                     "librosa_ms_per_clip": 1000 * theirs_s / n,
                     "speedup_vs_librosa": theirs_s / ours_s,
                     "sertk_x_realtime": seconds / ours_s})
    print(f"{n} files, {seconds:.0f} s of audio; max |sertk - librosa| log-mel = {diff:.2e}")
    return benchlib.finish(
        args, NAME, machine, rows,
        ["stage", "sertk_ms_per_clip", "librosa_ms_per_clip", "speedup_vs_librosa",
         "sertk_x_realtime"],
        files=n, audio_seconds=seconds, repeats=args.repeats, cache_batch=CACHE_BATCH,
        max_abs_diff_vs_librosa=diff, librosa=librosa.__version__,
        data=str(Path(files[0]).parent) if files else None,
        created=time.strftime("%Y-%m-%d %H:%M:%S"))


if __name__ == "__main__":
    main()
