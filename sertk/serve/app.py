"""The HTTP application: routes, limits, and errors as JSON.

=============== ========================================================================
``GET /``        the web page (``sertk/serve/static/``, nothing from the network)
``GET /health``  ``{"status": "ok", "model": ..., "version": ...}``
``GET /model``   labels, sample rate, the model card in brief, this server's limits
``POST /predict`` audio as the multipart ``file`` field or the raw body (``audio/*``);
                 query options as ``sertk predict`` (:mod:`sertk.serve.query`) -> the
                 JSON record ``sertk predict --out x.json`` writes for that file
                 (:func:`sertk.infer.output.to_record`), ``path`` being the uploaded
                 file's name, plus ``options`` (the windows used)
``GET /docs``    OpenAPI documentation (``/openapi.json``)
=============== ========================================================================

Failures are answered ``{"error": "<one line>"}``, never a traceback: 400 malformed
request, 408 upload slower than the timeout, 413 body over ``max_upload_bytes``
(refused on its ``Content-Length`` before the body is read, or as soon as the bytes
received pass the limit) or audio longer than ``max_duration``, 415 a body that is not
audio or multipart, 422 a bad query option or audio that cannot be used (the reason
``sertk predict`` gives), 503 with ``Retry-After`` when every inference slot is taken,
504 inference past the timeout, 500 the model failed.

A request takes an inference slot (:class:`~sertk.serve.pool.InferencePool`) before its body is
read, so uploads on disk are bounded too: at most ``pool`` files of at most
``max_upload_bytes``, each in its own private folder, removed when the request's work ends.
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import sertk
from sertk.audio import AudioError, checked_info
from sertk.infer.longform import LongformResult, WindowOptionError, predict_long
from sertk.infer.output import to_record
from sertk.infer.predictor import NON_FINITE_OUTPUT, FileResult, ModelOutputError
from sertk.serve.card import model_summary
from sertk.serve.options import ServeOptions
from sertk.serve.pool import DeadlinePassed, InferencePool, PoolFull, deadline_predictor
from sertk.serve.query import QueryError, parse_query, segment_options
from sertk.serve.upload import (UploadError, UploadFolder, check_declared_length,
                                receive_audio)

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("sertk.serve")


class RequestFailed(Exception):
    """Answer ``{"error": message}`` with ``status`` (and ``headers``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers or {}
        super().__init__(message)


def create_app(predictor, options: ServeOptions = ServeOptions(),
               model_name: str | None = None) -> FastAPI:
    """The application serving ``predictor`` (a :class:`sertk.infer.Predictor`)."""
    name = model_name or options.model or "emodb"
    pool = InferencePool(options.pool)

    @asynccontextmanager
    async def lifespan(_):
        yield
        pool.shutdown()

    app = FastAPI(title="sertk", version=sertk.__version__, lifespan=lifespan,
                  description="Speech emotion recognition: predictions and emotion timelines.")
    app.state.pool = pool
    _add_error_handlers(app)
    summary = model_summary(predictor, name)
    limits = {"max_upload_bytes": options.max_upload_bytes, "max_duration_s": options.max_duration,
              "pool": options.pool, "timeout_s": options.timeout}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": name, "version": sertk.__version__}

    @app.get("/model")
    def model() -> dict:
        return {**summary, "server": limits}

    @app.post("/predict", openapi_extra=_PREDICT_DOC)
    async def predict(request: Request) -> JSONResponse:
        values = _query(request, predictor)
        check_declared_length(request.headers.get("content-length"), options.max_upload_bytes)
        try:
            pool.acquire()
        except PoolFull:
            raise RequestFailed(503, f"all {options.pool} inference slots are busy; retry later",
                                {"Retry-After": str(options.retry_after)}) from None
        deadline = time.monotonic() + options.timeout
        folder = UploadFolder()
        handed_over = False
        try:
            try:
                upload = await asyncio.wait_for(
                    receive_audio(request.stream(), request.headers.get("content-type"),
                                  folder.path, options.max_upload_bytes), options.timeout)
            except asyncio.TimeoutError:
                raise RequestFailed(408, f"upload not received within {options.timeout:g} s") \
                    from None

            def work() -> dict:
                try:
                    return _infer(predictor, upload.path, upload.filename, values, options,
                                  deadline)
                finally:
                    folder.remove()

            handed_over = True  # the slot and the folder now end with work()
            try:
                record = await pool.run(work, max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise RequestFailed(504, f"prediction took longer than {options.timeout:g} s") \
                    from None
        finally:
            if not handed_over:
                folder.remove()
                pool.release()
        return JSONResponse(record)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _query(request: Request, predictor) -> dict:
    """Parse and check the query options before any of the body is read."""
    try:
        values = parse_query(request.query_params.multi_items())
        options = segment_options(values, None, predictor.feature_config.max_seconds)
        if options is not None:
            options.samples(predictor.feature_config)
    except WindowOptionError as err:
        raise RequestFailed(422, f"{err.option} {err.reason}") from None
    except (QueryError, ValueError) as err:
        raise RequestFailed(422, str(err)) from None
    return values


def _infer(predictor, path: Path, filename: str, values: dict, options: ServeOptions,
           deadline: float) -> dict:
    """Predict the uploaded file (in a pool thread); the ``sertk predict`` JSON record."""
    cfg = predictor.feature_config
    try:
        info = checked_info(path)
        if info.duration > options.max_duration:
            raise RequestFailed(413, f"audio is {info.duration:.1f} s long, over the server's "
                                     f"limit of {options.max_duration:g} s")
        windows = segment_options(values, info.duration, cfg.max_seconds)
        if windows is not None:
            windows.samples(cfg)
        view = deadline_predictor(predictor, deadline)  # a copy: this request's options
        if values.get("no_vad"):
            view.vad = None
        view.min_confidence = values.get("min_confidence", view.min_confidence)
        if windows is None:
            result = FileResult(filename, view.predict_file(path), duration=info.duration)
        else:
            result = predict_long(view, path, windows)
            if result.error is not None:
                _long_error(result, deadline)
    except AudioError as err:
        raise RequestFailed(422, err.reason.replace(str(path), filename)) from None
    except (QueryError, WindowOptionError) as err:
        raise RequestFailed(422, str(err)) from None
    except ModelOutputError as err:
        raise RequestFailed(500, str(err)) from None
    except DeadlinePassed:
        raise RequestFailed(504, f"prediction took longer than {options.timeout:g} s") from None
    record = to_record(result, predictor.labels, top_k=values.get("top_k"),
                       dimensions=predictor.dimensions)
    record["path"] = filename
    record["options"] = ({"mode": "utterance", "seconds": cfg.max_seconds} if windows is None
                         else {"mode": windows.mode, "segment": windows.segment,
                               "hop": windows.hop_seconds if windows.mode == "sliding" else None})
    return record


def _long_error(result: LongformResult, deadline: float) -> None:
    """Raise the answer for a recording whose windows failed."""
    if time.monotonic() > deadline and "DeadlinePassed" in result.error:
        raise DeadlinePassed()
    if result.error.startswith(("model failed", NON_FINITE_OUTPUT)):
        raise RequestFailed(500, result.error)
    raise RequestFailed(422, result.error)


def _add_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(RequestFailed)
    @app.exception_handler(UploadError)
    async def failed(_, exc: RequestFailed | UploadError):
        return error(exc.status, exc.message, getattr(exc, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def http(_, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, f"internal server error ({type(exc).__name__})")


_FLOAT = {"type": "number"}
_PREDICT_DOC = {
    "summary": "Predict the emotion of an audio file (and its timeline for long audio)",
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
        for name, schema, text in [
            ("segment", _FLOAT, "windows of S seconds (at most the model's 4 s)"),
            ("hop", _FLOAT, "seconds between window starts (default: segment)"),
            ("min_last", _FLOAT, "shortest final partial window, seconds"),
            ("vad", {"type": "boolean"}, "one window per speech region"),
            ("no_vad", {"type": "boolean"}, "no voice activity detection"),
            ("min_gap", _FLOAT, "with vad: pauses shorter than this merge, seconds"),
            ("smooth", {"type": "integer"}, "mode filter over K (odd) windows"),
            ("min_duration", _FLOAT, "segments shorter than this are absorbed, seconds"),
        ]],
    "requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}},
        "audio/*": {"schema": {"type": "string", "format": "binary"}}}},
}
