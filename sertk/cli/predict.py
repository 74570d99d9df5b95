"""Predict the emotion of audio files, folders, list files or long recordings.

Each PATH is an audio file, a folder or a list file (.txt/.lst, one path per line,
relative to the list's folder). Without --out, a table goes to the terminal; --out
writes CSV or JSON (path, label, probabilities, error; with --top-k K the JSON also
gives each prediction's K most probable labels, [{"label", "score"}, ...]). A model
trained with dimensions adds its ratings (arousal, valence, dominance) as columns after
the probabilities and as a "dimensions" object in JSON, per file and per window. A file
that cannot be read (missing, not audio, a format the installed libsndfile does not
decode, shorter than one analysis window (25 ms): "too short", permission denied, a name
the system refuses, ...) or for which the model gives non-finite output gets a row with
the reason, and the others are still predicted.

Folders are searched recursively. Every file with an audio or video extension
(wav flac ogg opus mp3 aiff au caf w64 rf64 sph voc ...; also m4a aac wma mp4 webm
amr mkv ..., which libsndfile cannot decode: those get an error row) is predicted;
other files, hidden files and folders (.name) and links to folders are left out,
and a one-line notice counts them.

Speech first: a voice activity detector (Silero VAD, shipped with sertk) looks at
every clip and window first; one with less than --speech-fraction of speech is
labelled no-speech and the model is not asked. --no-vad predicts everything.

Utterance mode (default): the model sees the first 4 s of each file, as in training.
Segment mode (--segment S [--hop H]): windows of S seconds every H seconds give
emotion over time (start, end, label, probabilities per window), a timeline of
segments (consecutive windows with one label merged; time outside speech is
no-speech, cut at the detector's edges), and a whole-file summary: each label's
share of the time and the dominant emotion. --vad predicts one window per speech
region instead (pauses under --min-gap merged, regions longer than --segment, 4 s
by default, split evenly). --smooth K (odd) relabels each window with the most
frequent emotion of the K around it; --min-duration S gives emotion segments
shorter than S the label of their longer neighbour. --plot DIR draws one timeline
PNG per file. The last, shorter window is kept if it is at least --min-last seconds
(and one analysis window) long, or is the only one. Files are streamed, so
hours-long recordings use little memory. S must lie between one analysis window
(0.025 s) and the model's 4 s, H must be at least one sample, and 0 <= --min-last
<= S (all finite); otherwise exit 2 before any work.

Probabilities are calibrated when the checkpoint holds a temperature (fitted on
validation data at the end of training). --min-confidence P labels a prediction (clip
or window) whose top probability is below P "uncertain"; its probabilities are kept.

Exit status: 0 if every file was predicted, 1 if any failed (or --out could not be
written at the end), 2 for usage errors. --out is checked before any work: a folder,
a path that cannot be created or written, or a wrong suffix is a usage error.

Examples:
  sertk predict clips/                       # bundled EmoDB model, table
  sertk predict a.wav b.flac --out preds.csv --model runs/iemocap/fold-01/checkpoint
  sertk predict talk.wav --segment 3 --hop 1.5 --out talk.json
  sertk predict meeting.wav --vad --plot plots/ --out meeting.csv
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sertk.cli.errors import error_line
from sertk.fileio import check_writable_folder, os_error_message
from sertk.infer import (DEFAULT_MODEL, FileResult, LongformResult, ModelNotFoundError,
                         SegmentOptions, load_model, predict_long, resolve_model)
from sertk.infer.longform import DEFAULT_MIN_GAP, WindowOptionError, window_options
from sertk.infer.timeline import format_summary
from sertk.infer.predictor import check_min_confidence
from sertk.vad import VADOptions
from sertk.infer.output import OUTPUT_FORMATS, check_output_path, format_table, write_results
from sertk.infer.paths import Listing, list_input

NOTICE_NAMES = 5  # left-out files named in the notice


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
    parser.add_argument("--min-last", type=float, default=None, metavar="S",
                        help="drop a final partial window shorter than S seconds, 0 <= S <= "
                             "--segment (default 0.5, or --segment if shorter)")
    parser.add_argument("--vad", action="store_true",
                        help="segment by the detector's speech regions instead of sliding "
                             "windows (--segment is then the longest piece, default 4 s)")
    parser.add_argument("--no-vad", action="store_true",
                        help="no voice activity detection: predict every clip and window")
    parser.add_argument("--vad-threshold", type=float, default=VADOptions.threshold, metavar="P",
                        help=f"frame speech probability above which it is speech "
                             f"(default {VADOptions.threshold})")
    parser.add_argument("--speech-fraction", type=float,
                        default=VADOptions.min_speech_fraction, metavar="F",
                        help="a clip or window with less speech than this fraction is "
                             f"no-speech (default {VADOptions.min_speech_fraction})")
    parser.add_argument("--min-gap", type=float, default=DEFAULT_MIN_GAP, metavar="S",
                        help=f"with --vad: pauses shorter than S seconds do not split a "
                             f"segment (default {DEFAULT_MIN_GAP})")
    parser.add_argument("--smooth", type=int, default=1, metavar="K",
                        help="relabel each window with the most frequent emotion among the "
                             "K (odd) around it (default 1: off)")
    parser.add_argument("--min-duration", type=float, default=0.0, metavar="S",
                        help="emotion segments shorter than S seconds take their longer "
                             "neighbour's label (default 0: off)")
    parser.add_argument("--top-k", type=int, default=None, metavar="K",
                        help="with --out x.json: add each prediction's K most probable "
                             "labels, [{label, score}, ...] highest first (Hugging Face "
                             "pipeline shape; no-speech gives [{no-speech, 1.0}])")
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                        help="label predictions whose top probability is below P (0..1) "
                             "'uncertain', probabilities kept (default 0: never)")
    parser.add_argument("--plot", default=None, metavar="DIR",
                        help="with --segment or --vad: write a timeline PNG per file into DIR")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1... (default: cuda if available)")
    parser.add_argument("--int8", action="store_true",
                        help="CPU only: int8 weights for the LSTM and Linear layers (dynamic "
                             "quantization; faster, probabilities within ~1e-2)")
    parser.add_argument("--bf16", action="store_true",
                        help="run the network in bfloat16 (a CPU with AVX-512 BF16 or AMX, "
                             "or a CUDA GPU; faster, probabilities within ~1e-2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        segment_options = _segment_options(args)
        if args.out is not None:
            if not args.out.lower().endswith(OUTPUT_FORMATS):
                raise ValueError(f"--out must end in .csv or .json, got {args.out!r}")
            check_output_path(args.out)  # fail now, not after predicting every file
        if args.top_k is not None:
            if args.top_k < 1:
                raise ValueError(f"--top-k must be >= 1, got {args.top_k}")
            if args.out is None or not args.out.lower().endswith(".json"):
                raise ValueError("--top-k is for JSON output: add --out FILE.json")
        vad = None if args.no_vad else VADOptions(threshold=args.vad_threshold,
                                                   min_speech_fraction=args.speech_fraction)
        try:
            min_confidence = check_min_confidence(args.min_confidence)
        except ValueError:
            raise ValueError(f"--min-confidence must be a probability in [0, 1], got "
                             f"{args.min_confidence}") from None
        if args.plot is not None:
            if segment_options is None:
                raise ValueError("--plot needs --segment or --vad")
            check_writable_folder(Path(args.plot) / "timeline.png")
        listing = _collect(args.paths)
        from sertk.infer.linear import is_linear_model

        if is_linear_model(resolve_model(args.model)):
            return _predict_linear(args, listing, vad, min_confidence)
        predictor = load_model(args.model, device=args.device, vad=vad, int8=args.int8,
                               bf16=args.bf16)
        predictor.min_confidence = min_confidence
        if segment_options is not None:
            segment_options.samples(predictor.feature_config)
    except WindowOptionError as err:
        print(f"sertk predict: error: --{err.option.replace('_', '-')} {err.reason}",
              file=sys.stderr)
        return 2
    except (ValueError, ModelNotFoundError, OSError) as err:  # refused before any work
        print(error_line("predict", err), file=sys.stderr)  # (CheckpointError is a ValueError)
        return 2

    progress = not args.no_progress
    readable = listing.readable
    if predictor.needs_speaker and readable:
        _note_speaker(len(readable))
        try:
            predictor.fit_speaker(predictor.readable_paths(readable))
        except ValueError as err:
            print(f"sertk predict: error: {err}", file=sys.stderr)
            return 1
    if segment_options is None:
        results = listing.results(predictor.predict_files(readable, batch_size=args.batch_size,
                                                          progress=progress), FileResult)
        _note_truncated(results, predictor.feature_config.max_seconds)
    else:
        results = listing.results((predict_long(predictor, path, segment_options,
                                                 progress=progress) for path in readable),
                                  LongformResult)

    if args.plot is not None:
        _plot(results, Path(args.plot), predictor.labels)
    return _report(args, results, predictor.labels, predictor.dimensions)


def _predict_linear(args: argparse.Namespace, listing: Listing, vad: VADOptions | None,
                    min_confidence: float) -> int:
    """``sertk predict`` with a classical model (:mod:`sertk.infer.linear`): whole files."""
    from sertk.infer.linear import LinearPredictor

    unsupported = [flag for flag, used in (
        ("--segment/--vad", _segment_options(args) is not None), ("--plot", args.plot),
        ("--int8", args.int8), ("--bf16", args.bf16),
        ("--device", args.device not in (None, "cpu"))) if used]
    if unsupported:
        print(f"sertk predict: error: {args.model} is a classical model (whole files, on the "
              f"CPU): {', '.join(unsupported)} apply to neural models only", file=sys.stderr)
        return 2
    try:
        predictor = LinearPredictor(resolve_model(args.model), vad=vad)
    except (ValueError, OSError) as err:
        print(error_line("predict", err), file=sys.stderr)
        return 2
    predictor.min_confidence = min_confidence
    if predictor.speaker_normalised and listing.readable:
        _note_speaker(len(listing.readable))
    results = listing.results(predictor.predict_files(listing.readable), FileResult)
    return _report(args, results, predictor.labels, predictor.dimensions)


def _note_speaker(count: int) -> None:
    print(f"note: the model is speaker-normalised: statistics of the {count} input "
          "file(s), taken as one speaker's recordings", file=sys.stderr)


def _report(args: argparse.Namespace, results: list, labels, dimensions) -> int:
    """Write or print ``results``, name the failed files; the exit status."""
    if args.out:
        try:
            written = write_results(results, args.out, labels, top_k=args.top_k,
                                    dimensions=dimensions)
        except OSError as err:  # e.g. the disk filled up while predicting
            print(f"sertk predict: error: cannot write results: {os_error_message(err)}",
                  file=sys.stderr)
            return 1
        print(f"wrote {len(results)} results to {written}", file=sys.stderr)
    else:
        print(format_table(results, labels, dimensions))
    failed = [r for r in results if not r.ok]
    for result in failed:
        print(f"error: {result.path}: {result.error}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} files failed", file=sys.stderr)
    return 1 if failed else 0


def _collect(inputs: list[str]) -> Listing:
    """Expand every input; warn about folders and lists that hold no audio, and name the
    folder files left out (one line per input)."""
    listing = Listing()
    for item in inputs:
        found = list_input(item)
        if not found.entries:
            print(f"warning: no audio files in {item}", file=sys.stderr)
        if found.left_out:
            print(f"note: {item}: left out {_named(found.left_out, Path(item))} "
                  f"(not audio/video extensions, hidden, or links to folders)", file=sys.stderr)
        listing.extend(found)
    if not listing.entries:
        raise ValueError(f"no audio files found in {' '.join(inputs)}")
    return listing


def _named(paths: list[Path], folder: Path) -> str:
    """``3 items: a.txt, b.csv, .git`` (at most NOTICE_NAMES names)."""
    names = [p.relative_to(folder).as_posix() if p.is_relative_to(folder) else str(p)
             for p in paths[:NOTICE_NAMES]]
    more = f", ... ({len(paths) - NOTICE_NAMES} more)" if len(paths) > NOTICE_NAMES else ""
    noun = "item" if len(paths) == 1 else "items"
    return f"{len(paths)} {noun}: {', '.join(names)}{more}"


def _segment_options(args: argparse.Namespace) -> SegmentOptions | None:
    return window_options(args.segment, args.hop, args.min_last, vad=args.vad,
                          no_vad=args.no_vad, min_gap=args.min_gap, smooth=args.smooth,
                          min_duration=args.min_duration, batch_size=args.batch_size)


def _plot(results, folder: Path, labels) -> None:
    """One timeline PNG per segmented file (named after it); a failure is noted, not fatal."""
    from sertk.infer.timeline_plot import plot_timeline

    names: set[str] = set()
    for result in results:
        if not isinstance(result, LongformResult) or not result.segments:
            continue
        name = Path(result.path).stem
        while name in names:
            name += "_"
        names.add(name)
        title = f"{Path(result.path).name}: {format_summary(result.summary)}"
        try:
            written = plot_timeline(result.segments, result.timeline_windows(labels), labels,
                                    folder / f"{name}.png", title=title)
        except OSError as err:
            print(f"warning: cannot write the timeline of {result.path}: "
                  f"{os_error_message(err)}", file=sys.stderr)
        else:
            print(f"timeline: {written}", file=sys.stderr)


def _note_truncated(results, max_seconds: float) -> None:
    longer = sum(1 for r in results if r.duration is not None and r.duration > max_seconds + 0.01)
    if longer:
        print(f"note: {longer} file(s) are longer than {max_seconds:g} s; only the first "
              f"{max_seconds:g} s were used (use --segment for emotion over time)", file=sys.stderr)
