"""Serve predictions over HTTP and a web page (FastAPI on uvicorn).

Endpoints: GET / (the web page: upload or record audio, see the emotion, its
probabilities and, for long recordings, the timeline), GET /health, GET /model
(labels, model card summary, limits), POST /predict (audio as the multipart "file"
field or the raw body with Content-Type audio/*, sertk predict's options as query
options: the JSON record sertk predict --out x.json writes), GET /docs (OpenAPI).

Limits: --max-upload-mb (413 before the body is read), --max-duration (413),
--pool inferences at once per worker (one more gets 503 with Retry-After, never a
queue), --timeout per request (408 for the upload, 504 for inference). Errors are
JSON {"error": "..."}. It binds 127.0.0.1: for the public internet put a reverse
proxy with TLS and request limits (nginx, Caddy) in front of it.

Examples:
  sertk serve                                 # bundled EmoDB model on http://127.0.0.1:8000
  sertk serve --model runs/iemocap/fold-01/checkpoint --port 8080 --workers 2
  curl -F file=@clip.wav http://127.0.0.1:8000/predict
  curl --data-binary @talk.wav -H 'Content-Type: audio/wav' \\
       'http://127.0.0.1:8000/predict?vad=true'
"""
from __future__ import annotations

import argparse
import sys

from sertk.infer import DEFAULT_MODEL, ModelNotFoundError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults live in sertk.serve.options.ServeOptions; importing it here would load FastAPI
    # (sertk.serve imports its app), so an option left out is simply not passed on.
    parser.add_argument("--model", default=None, metavar="CKPT",
                        help=f"checkpoint directory or bundled model name (default: {DEFAULT_MODEL})")
    for flag, kind, metavar, text in (
            ("--host", str, "HOST", "address to bind (default 127.0.0.1)"),
            ("--port", int, "PORT", "default 8000"),
            ("--workers", int, "N", "server processes, each with the model loaded (default 1)"),
            ("--pool", int, "N", "inferences at once per worker; more get 503 (default 2)"),
            ("--max-upload-mb", float, "MB", "largest request body in MB (default 50)"),
            ("--max-duration", float, "S", "longest audio in seconds (default 600)"),
            ("--timeout", float, "S", "seconds per request, upload and inference (default 120)"),
            ("--retry-after", int, "S", "Retry-After of a 503 answer (default 1)"),
            ("--threads", int, "N", "torch threads per worker (default 1)")):
        parser.add_argument(flag, type=kind, metavar=metavar, help=text)
    parser.add_argument("--no-vad", action="store_true",
                        help="no voice activity detection (predict every clip and window)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1... (default cpu)")
    parser.add_argument("--int8", action="store_true",
                        help="CPU only: int8 weights for the LSTM and Linear layers")
    parser.add_argument("--bf16", action="store_true",
                        help="the network in bfloat16 (a CPU with AVX-512 BF16 or AMX, or a "
                             "CUDA GPU)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    from sertk.serve.options import ServeOptions
    from sertk.serve.server import load_predictor, serve

    try:
        given = {name: getattr(args, name) for name in (
            "host", "port", "workers", "max_duration", "pool", "timeout", "retry_after",
            "threads") if getattr(args, name) is not None}
        if args.max_upload_mb is not None:
            given["max_upload_bytes"] = max(1, round(args.max_upload_mb * 1e6))
        options = ServeOptions(model=args.model, device=args.device, vad=not args.no_vad,
                               int8=args.int8, bf16=args.bf16, **given)
        if options.workers > 1:
            load_predictor(options)  # refuse a bad model here, not in every worker
        serve(options, log_level=args.log_level)
    except (ValueError, ModelNotFoundError) as err:  # CheckpointError is a ValueError
        print(f"sertk serve: error: {err}", file=sys.stderr)
        return 2
    return 0
