"""Build a manifest (CSV or .jsonl) from a corpus folder and print its counts.

Corpora: iemocap (IEMOCAP_full_release, 4-class), emodb (root/wav/*.wav or a flat folder),
ravdess (Actor_XX/*.wav), folder (ROOT/<label>/**/*.wav, any format libsndfile reads),
csv (ROOT is a CSV file with path,label[,speaker,session,gender,id] columns).

Every file is checked (decoded, NaN-free, at least 25 ms). A bad file stops the run
with an error naming it; with --skip-bad it is left out, printed, and listed in
<manifest stem>.skipped.csv beside the manifest.

Example:
    sertk prepare emodb data/emodb -o manifests/emodb.csv
"""
from __future__ import annotations

import argparse
import sys

from sertk.audio import AudioError
from sertk.data.manifest import ManifestError
from sertk.data.prepare import PREPARERS, count_table, prepare_corpus, skipped_path
from sertk.data.validate import CorpusError
from sertk.fileio import os_error_message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus", choices=list(PREPARERS), help="corpus recipe")
    parser.add_argument("root", help="corpus folder (for csv: the CSV file)")
    parser.add_argument("-o", "--output",
                        help="manifest to write, .csv or .jsonl "
                             "(default: CORPUS.csv in the current folder)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave bad files out (listed in <stem>.skipped.csv) "
                             "instead of stopping")
    parser.add_argument("--header-only", action="store_true",
                        help="check audio headers only, do not decode "
                             "(faster; misses NaN samples)")
    parser.add_argument("--labels",
                        help="folder/csv: comma-separated allowed labels; others are bad")
    parser.add_argument("--include-song", action="store_true",
                        help="ravdess: keep song files (vocal channel 02)")


def run(args: argparse.Namespace) -> int:
    output = args.output or f"{args.corpus}.csv"
    options = {"skip_bad": args.skip_bad, "decode": not args.header_only}
    if args.labels is not None:
        if args.corpus not in ("folder", "csv"):
            return _fail(f"--labels applies to folder and csv, not {args.corpus}")
        options["labels"] = [x.strip() for x in args.labels.split(",") if x.strip()]
    if args.include_song:
        if args.corpus != "ravdess":
            return _fail(f"--include-song applies to ravdess, not {args.corpus}")
        options["include_song"] = True
    try:
        prepared = prepare_corpus(args.corpus, args.root, output, **options)
    except (CorpusError, AudioError, ManifestError) as err:
        return _fail(str(err))
    except OSError as err:
        return _fail(os_error_message(err))
    print(count_table(prepared))
    if prepared.excluded:
        print("excluded: " + ", ".join(f"{k}: {n}" for k, n in sorted(prepared.excluded.items())))
    if prepared.skipped:
        print(f"skipped {len(prepared.skipped)} bad files (listed in {skipped_path(output)}):")
        for path, reason in prepared.skipped:
            print(f"  {path}: {reason}")
    print(f"wrote {len(prepared)} utterances to {output}")
    return 0


def _fail(message: str) -> int:
    print(f"sertk prepare: error: {message}", file=sys.stderr)
    return 1
