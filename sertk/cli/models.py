"""List the models: what each changes, parameter count and CPU forward time.

Builds every registered model (proposed, base1..base7) with the paper's 4
classes and times one 4 s utterance (401 frames) in eval mode, no grad, the
median of a few runs on this machine's CPU (one thread by default).
"""
from __future__ import annotations

import argparse

import torch

from sertk.models.summary import UTTERANCE_FRAMES, format_model_table, summarize_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-classes", type=int, default=4, help="classifier outputs (default 4)")
    parser.add_argument("--frames", type=int, default=UTTERANCE_FRAMES,
                        help=f"frames of the timed utterance (default {UTTERANCE_FRAMES} = 4 s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per model (median)")
    parser.add_argument("--no-timing", action="store_true", help="skip the forward timing")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for the timing (default 1: single-utterance latency, "
                             "steady on shared machines)")


def run(args: argparse.Namespace) -> int:
    if args.threads < 1:
        raise SystemExit(f"sertk models: --threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    rows = summarize_models(n_classes=args.n_classes, n_frames=args.frames,
                            repeats=args.repeats, timing=not args.no_timing)
    print(format_model_table(rows, n_frames=args.frames, threads=args.threads))
    return 0
