"""Predict the emotion of audio files, folders, list files or long recordings.

Each PATH is an audio file, a folder (searched recursively for audio files) or a
list file (.txt/.lst, one path per line, relative to the list's folder). Without
--out, a table goes to the terminal; --out writes CSV or JSON (path, label,
probabilities, error). A file that cannot be read gets a row with the reason and
the others are still predicted.

Utterance mode (default): the model sees the first 4 s of each file, as in training.
Segment mode (--segment S [--hop H]): windows of S seconds every H seconds give
emotion over time (start, end, label, probabilities per window) and a whole-file
label from the mean of the window probabilities. The last, shorter window is kept
if it is at least --min-last seconds long (or is the only one). Files are streamed,
so hours-long recordings use little memory.

Exit status: 0 if every file was predicted, 1 if any failed (or --out could not be
written), 2 for usage errors (an --out folder that cannot be created counts as one).

Examples:
  sertk predict clips/                       # bundled EmoDB model, table
  sertk predict a.wav b.flac --out preds.csv --model runs/iemocap/fold1
  sertk predict talk.wav --segment 3 --hop 1.5 --out talk.json
"""
from __future__ import annotations

import argparse
import sys

from sertk.fileio import check_writable_folder, os_error_message
from sertk.infer import DEFAULT_MODEL, ModelNotFoundError, SegmentOptions, load_model, predict_long
from sertk.infer.longform import check_segment
from sertk.infer.paths import expand_input
from sertk.infer.output import OUTPUT_FORMATS, format_table, write_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="audio files, folders, or .txt/.lst list files")
    parser.add_argument("--model", default=None, metavar="CKPT",
                        help="checkpoint directory or bundled model name "
                             f"(default: {DEFAULT_MODEL})")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="write results to FILE (.csv or .json) instead of a table")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N",
                        help="clips (or windows) per forward pass (default 32)")
    parser.add_argument("--segment", type=float, default=None, metavar="S",
                        help="predict windows of S seconds (at most the model's 4 s)")
    parser.add_argument("--hop", type=float, default=None, metavar="H",
                        help="seconds between window starts (default: --segment)")
    parser.add_argument("--min-last", type=float, default=0.5, metavar="S",
                        help="drop a final partial window shorter than S seconds (default 0.5)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1... (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        segment_options = _segment_options(args)
        if args.out is not None and not args.out.lower().endswith(OUTPUT_FORMATS):
            raise ValueError(f"--out must end in .csv or .json, got {args.out!r}")
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        paths = _collect(args.paths)
        if args.out is not None:
            check_writable_folder(args.out)  # fail now, not after predicting every file
        predictor = load_model(args.model, device=args.device)
        if segment_options is not None:
            check_segment(predictor, segment_options)
    except (ValueError, ModelNotFoundError) as err:  # CheckpointError is a ValueError
        print(f"sertk predict: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"sertk predict: error: {os_error_message(err)}", file=sys.stderr)
        return 2

    progress = not args.no_progress
    if segment_options is None:
        results = predictor.predict_files(paths, batch_size=args.batch_size, progress=progress)
        _note_truncated(results, predictor.feature_config.max_seconds)
    else:
        results = [predict_long(predictor, p, segment_options, progress=progress) for p in paths]

    if args.out:
        try:
            written = write_results(results, args.out, predictor.labels)
        except OSError as err:  # e.g. the disk filled up while predicting
            print(f"sertk predict: error: cannot write results: {os_error_message(err)}",
                  file=sys.stderr)
            return 1
        print(f"wrote {len(results)} results to {written}", file=sys.stderr)
    else:
        print(format_table(results, predictor.labels))
    failed = [r for r in results if not r.ok]
    for result in failed:
        print(f"error: {result.path}: {result.error}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _collect(inputs: list[str]) -> list:
    """Expand every input; warn about folders and lists that hold no audio."""
    paths = []
    for item in inputs:
        found = expand_input(item)
        if not found:
            print(f"warning: no audio files in {item}", file=sys.stderr)
        paths.extend(found)
    if not paths:
        raise ValueError(f"no audio files found in {' '.join(inputs)}")
    return paths


def _segment_options(args: argparse.Namespace) -> SegmentOptions | None:
    if args.segment is None:
        if args.hop is not None:
            raise ValueError("--hop needs --segment")
        return None
    return SegmentOptions(args.segment, args.hop, min_last=args.min_last,
                          batch_size=args.batch_size)


def _note_truncated(results, max_seconds: float) -> None:
    longer = sum(1 for r in results if r.duration is not None and r.duration > max_seconds + 0.01)
    if longer:
        print(f"note: {longer} file(s) are longer than {max_seconds:g} s; only the first "
              f"{max_seconds:g} s were used (use --segment for emotion over time)", file=sys.stderr)
