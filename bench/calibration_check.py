"""Does temperature scaling lower the test ECE? Train folds with `sertk cv` and print each
fold's temperature and test ECE (15 bins) before and after, and the pooled ECE.

Each fold fits its temperature on its own validation part at the end of training
(sertk.train.calibration); the test part is scored before and after. Runs trained before
calibration existed have no such numbers: train a new run (or re-run this script on one).

Usage (EmoDB-2s, leave-one-speaker-out, a quick recipe, the first 2 folds, 1 thread):

    sertk prepare emodb ../shared/data/emodb-2s -o /tmp/emodb.csv
    python bench/calibration_check.py --manifest /tmp/emodb.csv -o /tmp/calib \\
        --config configs/paper.yaml --set max_epochs=8 --set padding=batch --folds 2

    python bench/calibration_check.py --run runs/emodb-lospk   # an existing new-style run
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(metrics: dict) -> dict:
    """The calibration summary of run-level ``metrics`` (sertk.eval.report.aggregate_run)."""
    calibration = metrics.get("calibration")
    if not calibration:
        raise SystemExit("this run has no calibration numbers (trained before temperature "
                         "scaling existed, or without a validation part)")
    return {"folds": calibration["folds"], "pooled": calibration["pooled"],
            "lowered_on": sum(f["ece_after"] < f["ece_before"] for f in calibration["folds"]),
            "n_folds": len(calibration["folds"]),
            "ua": metrics["pooled"]["ua"], "protocol": metrics["protocol"]}


def render(summary: dict) -> str:
    lines = ["| fold | temperature | test ECE before (%) | after (%) |", "|:---|---:|---:|---:|"]
    for f in summary["folds"]:
        lines.append(f"| {f['name']} | {f['temperature']:.3f} | {100 * f['ece_before']:.2f} | "
                     f"{100 * f['ece_after']:.2f} |")
    pooled = summary["pooled"]
    lines.append(f"| pooled | | {100 * pooled['ece_before']:.2f} | "
                 f"{100 * pooled['ece_after']:.2f} |")
    lines.append(f"\nECE lowered on {summary['lowered_on']} of {summary['n_folds']} folds "
                 f"({summary['protocol']}; pooled UA {100 * summary['ua']:.2f} %, unchanged "
                 "by calibration).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="an existing run directory (sertk cv) to read")
    parser.add_argument("--manifest", help="train a new run on this manifest")
    parser.add_argument("-o", "--out", help="run directory for a new run")
    parser.add_argument("--config", default=None, help="recipe file")
    parser.add_argument("--protocol", default="lospk")
    parser.add_argument("--folds", type=int, default=None, help="the first N folds only")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--json", default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.run:
        from sertk.eval.report import aggregate_run
        metrics = aggregate_run(args.run, partial=True)
    elif args.manifest and args.out:
        from sertk.data.manifest import read_manifest
        from sertk.train import cross_validate, resolve_config
        config = resolve_config(args.config, args.overrides, manifest=args.manifest,
                                protocol=args.protocol, max_folds=args.folds,
                                progress_bar=False)
        metrics = cross_validate(config, read_manifest(args.manifest), args.out)
    else:
        parser.error("give --run DIR, or --manifest FILE and -o DIR")
    summary = check(metrics)
    print(render(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
