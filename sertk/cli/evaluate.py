"""Score a trained model on another corpus's manifest (cross-corpus evaluation).

The manifest's classes are matched to the model's by a label map (--label-map FILE, YAML or
JSON, manifest label -> model label; a class spelled the same in both maps to itself unless
the map says otherwise, `null` leaves a class out). Manifest classes without a model label
are left out, with a notice counting them; a map naming a label that the manifest or the
model lacks is refused. Each clip's probabilities are restricted to the mapped model labels
and renormalised. No voice activity detection: every clip is scored.

Outputs, as `sertk cv` writes them (the whole manifest is one test "fold"): OUT/run.json,
OUT/fold-00/{predictions.csv,metrics.json}, OUT/metrics.json, predictions.csv, report.md,
confusion.png.

Exit status: 0 when every file was scored, 1 when some could not be read (they are listed
and left out of the scores), 2 for usage errors (bad map, manifest or checkpoint).

examples:
  sertk prepare ravdess data/RAVDESS -o ravdess.csv
  sertk evaluate emodb --manifest ravdess.csv --label-map configs/labelmaps/ravdess-to-emodb.yaml -o runs/emodb-on-ravdess
  sertk evaluate runs/x/fold-00/checkpoint --manifest other.csv -o runs/x-on-other
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="CKPT",
                        help="checkpoint directory or bundled model name (e.g. emodb)")
    parser.add_argument("--manifest", required=True,
                        help="manifest CSV/JSONL of the other corpus (from `sertk prepare`)")
    parser.add_argument("--label-map", default=None, metavar="FILE",
                        help="YAML/JSON mapping of manifest labels to model labels")
    parser.add_argument("-o", "--out", required=True, help="output (run) directory")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N",
                        help="clips per forward pass (default 32)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1... (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    from sertk.data.manifest import ManifestError, read_manifest
    from sertk.eval.report import render_report
    from sertk.eval.rundir import ReportError
    from sertk.infer import ModelNotFoundError, load_model
    from sertk.infer.evaluate import LabelMapError, describe, evaluate, plan, read_label_map

    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        utterances = read_manifest(args.manifest)
        label_map = read_label_map(args.label_map) if args.label_map else None
        predictor = load_model(args.model, device=args.device, vad=False)
        plan(list(predictor.labels), utterances, label_map)  # refuse before any work
        result = evaluate(predictor, utterances, args.out, label_map=label_map,
                          model=str(args.model), batch_size=args.batch_size,
                          progress=not args.no_progress,
                          notice=lambda message: print(f"note: {message}", file=sys.stderr))
    except (LabelMapError, ManifestError, ReportError, ModelNotFoundError, ValueError,
            OSError) as err:
        print(f"sertk evaluate: error: {err}", file=sys.stderr)
        return 2
    print(render_report(result.metrics))
    print(f"scored {describe(result)}", file=sys.stderr)
    print(f"run directory: {args.out}", file=sys.stderr)
    for path, reason in result.failed:
        print(f"error: {path}: {reason}", file=sys.stderr)
    if result.failed:
        print(f"{len(result.failed)} file(s) could not be scored and are left out",
              file=sys.stderr)
        return 1
    return 0
