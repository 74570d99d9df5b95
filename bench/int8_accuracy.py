"""int8 and bfloat16 vs float32 inference: accuracy cost on EmoDB-2s and speed, side by side.

Accuracy: the bundled model (``sertk/pretrained/emodb``) predicts every EmoDB-2s clip
(535 files, labels from the file names via ``sertk.data.emodb``) in float32, with dynamic
int8 quantization of its LSTM and Linear layers (``load_model(..., int8=True)``, what
``sertk predict --int8`` runs) and, where the CPU has native bfloat16 instructions, in
bfloat16 (``load_model(..., bf16=True)``, ``sertk predict --bf16``), at batch 32, without
the voice activity detector (the model itself is compared); then the same with its ONNX
exports (``sertk export`` with and without ``--int8``) under ONNX Runtime, int8 compared
with the float32 export. Reported: UA of each against the true labels, the UA change, the
share of clips whose label is the same as float32's, and the largest probability
difference. The bundled model was trained on all of EmoDB, so its UA here is optimistic;
what matters is the change.

Speed: end to end (decode + features + model) on 4 s files of real speech at batch 32 and
batch 1: float32, int8 and bfloat16 in PyTorch, float32 and int8 in ONNX Runtime
(``sertk export`` with and without ``--int8``); the engines alternate within each repeat,
so every ratio is measured side by side. Each figure is the median of ``--repeats`` passes.

    python bench/int8_accuracy.py           # ~3 min on 2 cores
    python bench/int8_accuracy.py --quick   # smoke test (60 clips, one pass)
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

NAME = "int8_accuracy"


def probabilities(predictor, paths, batch_size: int = 32) -> np.ndarray:
    """(N, n_classes) probabilities of ``paths`` in ``predictor.labels`` order."""
    results = predictor.predict_files(paths, batch_size=batch_size)
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{len(failed)} files failed, e.g. {failed[0].path}: {failed[0].error}")
    return np.array([[r.prediction.probabilities[k] for k in predictor.labels] for r in results])


def pytorch_models(model: str) -> dict:
    """{precision: predictor} of ``model`` in PyTorch: float32, int8 and, where this CPU
    computes bfloat16 natively, bf16."""
    from sertk.infer import load_model
    from sertk.quantize import cpu_has_bf16

    precisions = {"float32": {}, "int8": {"int8": True}}
    if cpu_has_bf16():
        precisions["bf16"] = {"bf16": True}
    return {k: load_model(model, device="cpu", vad=False, **options)
            for k, options in precisions.items()}


def accuracy_rows(model: str, utterances) -> list[dict]:
    """The accuracy rows of the PyTorch model, one per precision."""
    paths = [u.path for u in utterances]
    truth = [u.label for u in utterances]
    models = pytorch_models(model)
    probs = {k: probabilities(predictor, paths) for k, predictor in models.items()}
    labels = np.array(models["float32"].labels)
    return precision_rows("pytorch", truth, labels, probs)


def precision_rows(engine: str, truth, labels: np.ndarray, probs: dict) -> list[dict]:
    """One row per precision of ``probs`` ({precision: (N, C) probabilities}, float32 first):
    UA and its change from float32, and how each agrees with float32."""
    from sertk.eval.metrics import unweighted_accuracy

    predicted = {k: labels[p.argmax(1)] for k, p in probs.items()}
    ua = {k: unweighted_accuracy(truth, v) for k, v in predicted.items()}
    return [{"part": "accuracy", "engine": engine, "precision": k, "clips": len(truth),
             "ua": ua[k], "ua_change_points": 100 * (ua[k] - ua["float32"]),
             "label_agreement": float(np.mean(predicted["float32"] == predicted[k])),
             "max_abs_prob_diff": float(np.abs(probs["float32"] - probs[k]).max())}
            for k in probs]


def onnx_runners(model: str, tmp: Path) -> dict:
    """{precision: run} of ``model`` exported to ONNX (``sertk export`` with and without
    ``--int8``), each run by ONNX Runtime through ``sertk.export.runner``."""
    from sertk.export import ExportOptions, export_onnx, runner

    runs = {}
    for precision, int8 in (("float32", False), ("int8", True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = export_onnx(model, tmp / f"model-{precision}.onnx", ExportOptions(int8=int8))
        runs[precision] = runner(report.path, "onnx")
    return runs


def onnx_accuracy_rows(model: str, utterances, runs: dict) -> list[dict]:
    """The accuracy rows of the ONNX Runtime exports (int8 compared with the float32 export)."""
    from infer_speed import onnx_predict
    from sertk.infer import load_model

    predictor = load_model(model, device="cpu", vad=False)
    cfg, labels = predictor.feature_config, np.array(predictor.labels)
    paths = [u.path for u in utterances]
    truth = [u.label for u in utterances]
    probs = {k: onnx_predict(run, paths, 32, cfg.max_seconds, cfg.sample_rate)
             for k, run in runs.items()}
    return precision_rows("onnxruntime", truth, labels, probs)


def speed_rows(model: str, clips: list[Path], repeats: int, runs: dict) -> list[dict]:
    """Every precision of each engine timed alternately, at batch 32 and batch 1
    (``runs``: the ONNX Runtime runners of :func:`onnx_runners`, or empty)."""
    engines = {f"pytorch {k}": p for k, p in pytorch_models(model).items()}
    calls = {name: (lambda p=p, b=32: p.predict_files(clips, batch_size=b))
             for name, p in engines.items()}
    single = {name: (lambda p=p: p.predict_files(clips, batch_size=1))
              for name, p in engines.items()}
    if runs:
        from infer_speed import onnx_predict

        cfg = engines["pytorch float32"].feature_config
        for precision, run in runs.items():
            name = f"onnxruntime {precision}"
            calls[name] = lambda run=run: onnx_predict(run, clips, 32, cfg.max_seconds,
                                                       cfg.sample_rate)
            single[name] = lambda run=run: onnx_predict(run, clips, 1, cfg.max_seconds,
                                                        cfg.sample_rate)
    rows = []
    for batch, table in ((32, calls), (1, single)):
        times = {name: [] for name in table}
        for name in table:  # warm-up
            table[name]()
        for _ in range(repeats):
            for name, fn in table.items():  # alternate: the same load for every engine
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        for name, values in times.items():
            wall = float(np.median(values))
            engine, precision = name.split(" ")
            float_wall = float(np.median(times[f"{engine} float32"]))
            rows.append({"part": "speed", "engine": engine, "precision": precision,
                         "batch": batch, "clips": len(clips), "audio_s": 4.0 * len(clips),
                         "wall_s": wall, "ms_per_clip": 1000 * wall / len(clips),
                         "x_realtime": 4.0 * len(clips) / wall,
                         "speedup_vs_float32": float_wall / wall})
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = benchlib.parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--data", help="EmoDB-2s folder (default: $SERTK_TEST_DATA/emodb-2s)")
    p.add_argument("--model", default="emodb", help="checkpoint or bundled model (emodb)")
    p.add_argument("--clips", type=int, default=64, help="4 s files for the speed part")
    p.add_argument("--repeats", type=int, default=5, help="passes per speed figure (median)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    args = p.parse_args(argv)
    if args.quick:
        args.clips, args.repeats = 4, 1
    machine = benchlib.setup(args)
    logging.getLogger("sertk.export").setLevel(logging.ERROR)

    from sertk.data.emodb import prepare_emodb
    from sertk.infer.bundled import resolve_model

    args.model = str(resolve_model(args.model))  # a bundled name -> its directory
    root = benchlib.default_emodb(args.data)
    if root is None:
        raise SystemExit("EmoDB-2s not found: pass --data or set SERTK_TEST_DATA")
    utterances = list(prepare_emodb(root, decode=False))
    if args.quick:
        utterances = utterances[::9]
    rows = accuracy_rows(args.model, utterances)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = {} if args.no_onnx else onnx_runners(args.model, tmp)
        if runs:
            rows += onnx_accuracy_rows(args.model, utterances, runs)
        sources = benchlib.emodb_files(args.data)
        clips = benchdata.clip_files(tmp / "clips4s", sources, 4.0, args.clips)
        rows += speed_rows(args.model, clips, args.repeats, runs)
    return benchlib.finish(
        args, NAME, machine, rows,
        ["part", "engine", "precision", "batch", "clips", "ua", "ua_change_points",
         "label_agreement", "max_abs_prob_diff", "ms_per_clip", "x_realtime",
         "speedup_vs_float32"],
        repeats=args.repeats, model=args.model, vad=False)


if __name__ == "__main__":
    main()
