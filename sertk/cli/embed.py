"""Write the model's embeddings of audio files (.npy, .parquet or .csv).

Each PATH is an audio file, a folder (searched recursively) or a list file
(.txt/.lst), as for `sertk predict`. The embedding is the model's pooled vector
before its classification head (256 numbers for the bundled model), computed from
the first 4 s of each file through the same front-end as prediction.

--out x.npy writes the (files, D) float32 array (np.load(x, allow_pickle=False)) and
x.files.csv beside it, naming the file of each row (row, file, speech). --out x.parquet
(needs pyarrow: pip install pyarrow) and --out x.csv write one table with the columns
file, speech, emb_0 ... emb_{D-1}.

Clips without speech are embedded too: the voice activity detector only fills the
speech column (true/false; empty with --no-vad, which also skips the detector's time).

A file that cannot be read (missing, not audio, too short, ...) or that makes the
model fail is named on stderr and left out of the output; the others are written.
Exit status: 0 if every file was embedded, 1 if any failed, 2 for usage errors
(checked before any work: a wrong --out suffix, a folder at --out, .parquet without
pyarrow, an unknown model).

Examples:
  sertk embed clips/ --out emb.npy
  sertk embed a.wav b.flac --out emb.parquet --model runs/x/fold-00/checkpoint
"""
from __future__ import annotations

import argparse
import sys

from sertk.cli.errors import error_line
from sertk.fileio import os_error_message
from sertk.infer import DEFAULT_MODEL, ModelNotFoundError, load_model
from sertk.infer.embeddings import (EmbeddingResult, check_embedding_output, embed_files,
                                    write_embeddings)
from sertk.infer.paths import list_inputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="audio files, folders, or .txt/.lst list files")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file: .npy (with FILE's .files.csv), .parquet or .csv")
    parser.add_argument("--model", default=None, metavar="CKPT",
                        help="checkpoint directory or bundled model name "
                             f"(default: {DEFAULT_MODEL})")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N",
                        help="clips per forward pass (default 32)")
    parser.add_argument("--no-vad", action="store_true",
                        help="do not run the voice activity detector (speech column empty)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1... (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        check_embedding_output(args.out)
        listing = list_inputs(args.paths)
        if not listing.entries:
            raise ValueError(f"no audio files found in {' '.join(args.paths)}")
        predictor = load_model(args.model, device=args.device, vad=not args.no_vad)
    except (ValueError, ModelNotFoundError, OSError) as err:  # refused before any work
        print(error_line("embed", err), file=sys.stderr)  # (CheckpointError is a ValueError)
        return 2

    results = listing.results(embed_files(predictor, listing.readable, batch_size=args.batch_size,
                                          progress=not args.no_progress), EmbeddingResult)
    done = sum(r.ok for r in results)
    if done:
        try:
            written = write_embeddings(results, args.out, predictor.embedding_size)
        except OSError as err:  # e.g. the disk filled up while embedding
            print(f"sertk embed: error: cannot write embeddings: {os_error_message(err)}",
                  file=sys.stderr)
            return 1
        print(f"wrote {done} embeddings of {predictor.embedding_size} values to "
              f"{', '.join(map(str, written))}", file=sys.stderr)
    failed = [r for r in results if not r.ok]
    for result in failed:
        print(f"error: {result.path}: {result.error}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} files failed"
              + ("" if done else f"; nothing written to {args.out}"), file=sys.stderr)
    return 1 if failed else 0
