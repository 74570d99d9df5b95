"""Download a public corpus (EmoDB), verify its checksum and unpack it safely.

The archive is fetched into DIR, its SHA-256 is printed (pass it to --sha256 next time to
pin it), its members are checked (nothing outside DIR, no links or devices, bounded size)
and the expected audio files are counted before the corpus is moved into place. On any
error, Ctrl-C or SIGTERM, DIR is left without partial output or temporary files. A download
that takes longer than --timeout seconds in all, or in which less than 1 KiB arrives in
--stall-timeout seconds, is stopped. IEMOCAP needs a licence and is not downloadable.

Example:
    sertk download emodb --to data/emodb
    sertk prepare emodb data/emodb -o manifests/emodb.csv
"""
from __future__ import annotations

import argparse
import math
import sys

from sertk.data.download import (CORPORA, STALL_BYTES, STALL_TIMEOUT, TIMEOUT, DownloadError,
                                 download_corpus)


def _seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("corpus", choices=sorted(CORPORA), help="corpus to download")
    parser.add_argument("--to", dest="dest", required=True, metavar="DIR",
                        help="folder to hold the corpus (created if missing)")
    parser.add_argument("--sha256", metavar="HEX",
                        help="required SHA-256 of the archive; a mismatch extracts nothing")
    parser.add_argument("--url", help="fetch from this URL instead (a mirror, or file://PATH "
                                      "for an archive downloaded by hand)")
    parser.add_argument("--timeout", type=_seconds, default=TIMEOUT, metavar="S",
                        help=f"stop a download that takes longer than S seconds in all "
                             f"(default {TIMEOUT:g})")
    parser.add_argument("--stall-timeout", type=_seconds, default=STALL_TIMEOUT, metavar="S",
                        help=f"stop a download when less than {STALL_BYTES} bytes arrive in S "
                             f"seconds (default {STALL_TIMEOUT:g})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        result = download_corpus(args.corpus, args.dest, url=args.url, sha256=args.sha256,
                                 progress=not args.quiet, timeout=args.timeout,
                                 stall_timeout=args.stall_timeout)
    except (DownloadError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except SystemExit:  # SIGTERM (sertk.data.download turns it into SystemExit(143))
        print("sertk download: terminated; temporary files removed", file=sys.stderr)
        raise
    spec = CORPORA[args.corpus]
    print(f"sha256 {result.sha256}  {result.url}")
    print(f"{result.files} audio files in {result.path / spec.audio_dir}")
    return 0
