"""Serve predictions over HTTP and a web page (FastAPI on uvicorn).

Endpoints: GET / (the web page: upload or record audio, see the emotion, its
probabilities and, for long recordings, the timeline), GET /health, GET /model
(labels, model card summary, limits), POST /predict (the audio as the multipart
"file" field or as the raw body with Content-Type audio/*; query options segment,
hop, min_last, vad, no_vad, min_gap, smooth, min_duration as in sertk predict; the
JSON record sertk predict --out x.json writes), GET /docs (OpenAPI).

Limits: --max-upload-mb (413 before the body is read), --max-duration (413),
--pool inferences at once per worker (one more gets 503 with Retry-After, never a
queue), --timeout per request (408 for the upload, 504 for inference). Errors are
JSON {"error": "..."}. It binds 127.0.0.1: for the public internet put a reverse
proxy with TLS and request limits (nginx, Caddy) in front of it.

Examples:
  sertk serve                                 # bundled EmoDB model on http://127.0.0.1:8000
  sertk serve --model runs/iemocap/fold1 --port 8080 --workers 2
  curl -F file=@clip.wav http://127.0.0.1:8000/predict
  curl --data-binary @talk.wav -H 'Content-Type: audio/wav' \\
       'http://127.0.0.1:8000/predict?vad=true'
"""
from __future__ import annotations

import argparse
import sys

from sertk.infer import DEFAULT_MODEL, ModelNotFoundError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sertk.serve.options import ServeOptions

    d = ServeOptions()
    parser.add_argument("--model", default=None, metavar="CKPT",
                        help=f"checkpoint directory or bundled model name (default: {DEFAULT_MODEL})")
    parser.add_argument("--host", default=d.host, help=f"address to bind (default {d.host})")
    parser.add_argument("--port", type=int, default=d.port, help=f"default {d.port}")
    parser.add_argument("--workers", type=int, default=d.workers, metavar="N",
                        help="server processes, each with the model loaded (default 1)")
    parser.add_argument("--pool", type=int, default=d.pool, metavar="N",
                        help=f"inferences at once per worker; more get 503 (default {d.pool})")
    parser.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 1e6,
                        metavar="MB", help="largest request body in MB (default 50)")
    parser.add_argument("--max-duration", type=float, default=d.max_duration, metavar="S",
                        help=f"longest audio in seconds (default {d.max_duration:g})")
    parser.add_argument("--timeout", type=float, default=d.timeout, metavar="S",
                        help=f"seconds per request, upload and inference (default {d.timeout:g})")
    parser.add_argument("--retry-after", type=int, default=d.retry_after, metavar="S",
                        help=f"Retry-After of a 503 answer (default {d.retry_after})")
    parser.add_argument("--threads", type=int, default=d.threads, metavar="N",
                        help=f"torch threads per worker (default {d.threads})")
    parser.add_argument("--no-vad", action="store_true",
                        help="no voice activity detection (predict every clip and window)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1... (default cpu)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from sertk.serve.options import ServeOptions
    from sertk.serve.server import load_predictor, serve

    try:
        options = ServeOptions(
            model=args.model, host=args.host, port=args.port, workers=args.workers,
            device=args.device, vad=not args.no_vad,
            max_upload_bytes=max(1, round(args.max_upload_mb * 1e6)),
            max_duration=args.max_duration, pool=args.pool, timeout=args.timeout,
            retry_after=args.retry_after, threads=args.threads)
        if options.workers > 1:
            load_predictor(options)  # refuse a bad model here, not in every worker
    except (ValueError, ModelNotFoundError) as err:  # CheckpointError is a ValueError
        print(f"sertk serve: error: {err}", file=sys.stderr)
        return 2
    try:
        serve(options, log_level=args.log_level)
    except (ValueError, ModelNotFoundError) as err:
        print(f"sertk serve: error: {err}", file=sys.stderr)
        return 2
    return 0
