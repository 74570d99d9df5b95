"""Segment prediction on long recordings: time and memory as the recording grows.

Writes speech-like recordings of increasing length (in one-minute chunks, 44.1 kHz
stereo 16-bit by default, so decoding, mono mixing and streaming resampling are all
exercised) and predicts them with ``sertk.infer.iter_windows`` (4 s windows, hop 4 s),
reporting per length: windows, wall time, real-time factor, the peak of Python-traced
memory (numpy buffers) and the growth of the process's peak RSS. Flat memory means the
last two columns do not grow with the length.

The model is the paper's ``proposed`` network, randomly initialised (weights do not
change the cost), or ``--model CKPT``. Run::

    python bench/infer_longform.py                      # 2, 20 and 120 minutes
    python bench/infer_longform.py --minutes 1 5 --quick
"""
from __future__ import annotations

import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import soundfile as sf

import benchlib

NAME = "infer_longform"


def write_recording(path: Path, minutes: float, rate: int, channels: int) -> None:
    t = np.arange(60 * rate) / rate
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    minute = sum(np.sin(k * phase) / k for k in range(1, 8)) * envelope
    minute = (0.1 * minute * 32767).astype(np.int16)
    block = np.repeat(minute[:, None], channels, axis=1)
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as f:
        for _ in range(int(round(minutes))):
            f.write(block)


def main() -> None:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[2, 20, 120])
    p.add_argument("--model", default=None, help="checkpoint directory (default: random proposed)")
    p.add_argument("--rate", type=int, default=44_100)
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    if args.quick:
        args.minutes = [1, 3]
    machine = benchlib.setup(args)

    from sertk.features import FeatureConfig
    from sertk.infer import SegmentOptions, iter_windows, load_model
    from sertk.models import create_model, save_checkpoint

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            model = save_checkpoint(tmp / "proposed", create_model("proposed", 7).eval(),
                                    model_name="proposed", labels=[f"c{i}" for i in range(7)],
                                    feature_config=FeatureConfig(), norm_mean=np.full(40, -6.0),
                                    norm_std=np.full(40, 3.0))
        predictor = load_model(model, device="cpu")
        options = SegmentOptions(4.0, batch_size=args.batch_size)
        for minutes in args.minutes:
            path = tmp / f"{minutes:g}min.wav"
            write_recording(path, minutes, args.rate, args.channels)
            gc.collect()
            benchlib.reset_peak_rss()
            rss_before = benchlib.rss_mb()
            tracemalloc.start()
            start = time.perf_counter()
            windows = sum(1 for _ in iter_windows(predictor, path, options))
            seconds = time.perf_counter() - start
            traced = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            rows.append({"minutes": minutes, "windows": windows, "seconds": seconds,
                         "x_realtime": minutes * 60 / seconds, "traced_peak_mb": traced,
                         "rss_growth_mb": benchlib.peak_rss_mb() - rss_before})
            path.unlink()
    columns = ["minutes", "windows", "seconds", "x_realtime", "traced_peak_mb", "rss_growth_mb"]
    benchlib.finish(args, NAME, machine, rows, columns)


if __name__ == "__main__":
    main()
