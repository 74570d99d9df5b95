"""``sertk serve``: an HTTP service and a web page for emotion predictions.

- :mod:`~sertk.serve.app`: the routes, the limits, errors as JSON
- :mod:`~sertk.serve.upload`: uploads streamed into a private folder, size counted as they come
- :mod:`~sertk.serve.pool`: a bounded pool of inference threads (full: 503, never a queue)
- :mod:`~sertk.serve.query`: the ``sertk predict`` options as query parameters
- :mod:`~sertk.serve.card`: the model card summary of ``GET /model``
- :mod:`~sertk.serve.server`: loading the model and running uvicorn (one or more workers)
- ``static/``: the web page (plain HTML, CSS and JavaScript; no framework, no CDN)

Why FastAPI on uvicorn: FastAPI is Starlette (a small, well-kept ASGI toolkit whose request
stream lets the upload limit be counted as the body arrives) plus the OpenAPI documentation at
``/docs`` for free, and it is the most widely used of the three candidates, so its failure modes
are well known. Litestar would do the same with a smaller community. Uvicorn is the reference
ASGI server and runs several worker processes itself (``--workers``). Inference runs in threads
of a bounded pool, so the event loop keeps answering while the model computes.

Public internet: the server binds 127.0.0.1 by default. To expose it, put a reverse
proxy that terminates TLS, buffers request bodies and limits their size and rate
(nginx, Caddy) in front of it; sertk serve has no authentication.
"""
from sertk.serve.app import create_app
from sertk.serve.options import ServeOptions
from sertk.serve.server import load_predictor, serve

__all__ = ["ServeOptions", "create_app", "load_predictor", "serve"]
