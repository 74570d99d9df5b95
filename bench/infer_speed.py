"""Inference speed end to end (decode + features + model), PyTorch and ONNX Runtime.

Real time factor (x real time = seconds of audio / seconds of wall time) of
``Predictor.predict_files`` (what ``sertk predict`` runs) at batch 32 and batch 1,
and the latency of one 4 s clip (``Predictor.predict_file``), all with the voice activity
detector on, as ``sertk predict`` runs by default (one row without it, ``--no-vad``, gives
its cost); then the same for the
ONNX export (``sertk.export.export_onnx``, run by onnxruntime on the same decoded
audio). Inputs: 4 s files of real speech (EmoDB-2s clips end to end, 22.05 kHz, so
decoding resamples) and the EmoDB-2s files themselves (2 s each; ``padding=fixed``
pads them to 4 s as in training, ``padding=batch`` does not). The model is the
untrained ``proposed`` network (speed does not depend on the weights).

Length mix: as many files again whose durations follow the IEMOCAP-like mix of
``bench/benchdata.py`` (log-normal, 5 % under 1 s, 25 % over 4 s, cut at 4 s), each row
beside its equal-length twin (as many files, each of the mean duration: the same total
audio); ``wall_vs_equal`` is the row's wall time over its twin's.

Each figure is the median of ``--repeats`` passes.

    python bench/infer_speed.py           # ~2 min on 2 cores
    python bench/infer_speed.py --quick   # smoke test (tiny model, seconds)
"""
from __future__ import annotations

import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import benchdata
import benchlib

NAME = "infer_speed"


def onnx_predict(run, paths, batch_size: int, seconds: float, rate: int) -> np.ndarray:
    """Decode like the predictor, zero-pad each batch, run the exported model."""
    from sertk.audio import read_head

    out = []
    limit = int(round(seconds * rate))
    for start in range(0, len(paths), batch_size):
        waves = [read_head(p, seconds, rate)[0][:limit] for p in paths[start:start + batch_size]]
        batch = np.zeros((len(waves), max(len(w) for w in waves)), np.float32)
        for row, wave in zip(batch, waves):
            row[:len(wave)] = wave
        out.append(run(batch, np.array([len(w) for w in waves], np.int64)))
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--data", help="EmoDB-2s folder (default: $SERTK_TEST_DATA/emodb-2s)")
    p.add_argument("--clips", type=int, default=64, help="4 s files per pass")
    p.add_argument("--repeats", type=int, default=5, help="passes per figure (median)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX rows")
    args = p.parse_args(argv)
    if args.quick:
        args.clips, args.repeats = 4, 1
    machine = benchlib.setup(args)
    logging.getLogger("sertk.export").setLevel(logging.ERROR)

    from sertk.infer import load_model

    sources = benchlib.emodb_files(args.data, 8 if args.quick else None)
    emodb = sources[: args.clips] if args.quick else sources
    rows = []

    def add(engine, inputs, padding, batch, wall, audio_s, n):
        rows.append({"engine": engine, "inputs": inputs, "padding": padding, "batch": batch,
                     "clips": n, "audio_s": audio_s, "wall_s": wall,
                     "ms_per_clip": 1000 * wall / n, "x_realtime": audio_s / wall})

    timed = lambda fn: benchlib.median_time(fn, args.repeats)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = benchdata.clip_files(tmp / "clips4s", sources, 4.0, args.clips)
        mixes = length_mix_files(tmp, sources, args.clips)
        for padding in ("fixed", "batch"):
            ckpt = benchdata.make_checkpoint(tmp / f"ckpt-{padding}", sources, padding=padding,
                                             tiny=args.quick)
            predictor = load_model(ckpt, device="cpu")
            if padding == "fixed":
                for batch in (32, 1):
                    wall = timed(lambda: predictor.predict_files(clips, batch_size=batch))
                    add("pytorch", "4 s files", padding, batch, wall, 4.0 * len(clips), len(clips))
                bare = load_model(ckpt, device="cpu", vad=False)  # what the detector costs
                wall = timed(lambda: bare.predict_files(clips, batch_size=32))
                add("pytorch", "4 s files, no VAD", padding, 32, wall, 4.0 * len(clips),
                    len(clips))
                one = timed(lambda: predictor.predict_file(clips[0]))
                add("pytorch", "one 4 s file (latency)", padding, 1, one, 4.0, 1)
            wall = timed(lambda: predictor.predict_files(emodb, batch_size=32))
            add("pytorch", "EmoDB-2s files", padding, 32, wall, 2.0 * len(emodb), len(emodb))
            walls = {}
            for inputs, (files, seconds) in mixes.items():
                walls[inputs] = timed(lambda: predictor.predict_files(files, batch_size=32))
                add("pytorch", inputs, padding, 32, walls[inputs], float(seconds.sum()),
                    len(files))
            for row in rows[-len(mixes):]:
                row["wall_vs_equal"] = row["wall_s"] / walls[EQUAL_TWIN]
            if padding == "fixed" and not args.no_onnx:
                rows.extend(onnx_rows(ckpt, clips, tmp, timed, predictor))
    return benchlib.finish(
        args, NAME, machine, rows,
        ["engine", "inputs", "padding", "batch", "clips", "ms_per_clip", "x_realtime",
         "wall_vs_equal"],
        repeats=args.repeats, model="proposed (untrained weights)", source_rate_hz=22050)


LENGTH_MIX, EQUAL_TWIN = "IEMOCAP-like files", "equal-length twin files"


def length_mix_files(tmp: Path, sources, count: int) -> dict[str, tuple[list[Path], np.ndarray]]:
    """``count`` files of IEMOCAP-like durations and their equal-length twins:
    {inputs name: (paths, durations in seconds)}, the variable-length set first."""
    seconds = benchdata.iemocap_like_seconds(count)
    out = {}
    for name, durations, folder in ((LENGTH_MIX, seconds, "mix"),
                                    (EQUAL_TWIN, benchdata.equal_twin(seconds), "twin")):
        paths = [benchdata.write_speech(tmp / folder / f"clip{i:03d}.wav", sources, float(d),
                                        offset=2 * i) for i, d in enumerate(durations)]
        out[name] = (paths, durations)
    return out


def onnx_rows(ckpt: Path, clips: list[Path], tmp: Path, timed, predictor) -> list[dict]:
    """Export to ONNX, check it agrees with PyTorch, and time it like the predictor."""
    import onnxruntime

    from sertk.export import export_onnx, runner

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        report = export_onnx(ckpt, tmp / "model.onnx")
        export_s = time.perf_counter() - start
    run = runner(report.path, "onnx")
    cfg = predictor.feature_config
    ours = onnx_predict(run, clips, 32, cfg.max_seconds, cfg.sample_rate)
    torch_probs = np.array([[r.prediction.probabilities[k] for k in predictor.labels]
                            for r in predictor.predict_files(clips, batch_size=32)])
    diff = float(np.abs(ours - torch_probs).max())
    rows = []
    for batch in (32, 1):
        wall = timed(lambda: onnx_predict(run, clips, batch, cfg.max_seconds, cfg.sample_rate))
        rows.append({"engine": f"onnxruntime {onnxruntime.__version__}", "inputs": "4 s files",
                     "padding": "fixed", "batch": batch, "clips": len(clips),
                     "audio_s": 4.0 * len(clips), "wall_s": wall,
                     "ms_per_clip": 1000 * wall / len(clips),
                     "x_realtime": 4.0 * len(clips) / wall,
                     "max_abs_diff_vs_pytorch": diff, "export_s": export_s,
                     "exporter": report.exporter})
    one = timed(lambda: onnx_predict(run, clips[:1], 1, cfg.max_seconds, cfg.sample_rate))
    rows.append({"engine": f"onnxruntime {onnxruntime.__version__}",
                 "inputs": "one 4 s file (latency)", "padding": "fixed", "batch": 1, "clips": 1,
                 "audio_s": 4.0, "wall_s": one, "ms_per_clip": 1000 * one, "x_realtime": 4.0 / one,
                 "max_abs_diff_vs_pytorch": diff})
    return rows


if __name__ == "__main__":
    main()
