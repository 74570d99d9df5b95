"""Starting the server: load the model once per worker process, run uvicorn."""
from __future__ import annotations

import os

import torch

from sertk.infer import load_model
from sertk.serve.app import create_app
from sertk.serve.options import ENV_VAR, ServeOptions


def load_predictor(options: ServeOptions):
    """The predictor ``options`` name (a checkpoint or bundled model), on its device and
    in its precision, with ``options.threads`` torch threads per process."""
    torch.set_num_threads(options.threads)
    return load_model(options.model, device=options.device, vad=options.vad,
                      int8=options.int8, bf16=options.bf16)


def app_from_environment():
    """The application for one uvicorn worker (``sertk serve --workers N``): settings
    from :data:`sertk.serve.options.ENV_VAR`, the model loaded in this process."""
    options = ServeOptions.from_environment()
    return create_app(load_predictor(options), options)


def serve(options: ServeOptions, log_level: str = "info") -> None:
    """Run until interrupted. One worker serves an app built here; several workers each
    load the model in their own process (uvicorn's process manager)."""
    import uvicorn

    common = dict(host=options.host, port=options.port, log_level=log_level,
                  timeout_graceful_shutdown=5)
    if options.workers == 1:
        uvicorn.run(create_app(load_predictor(options), options), **common)
        return
    os.environ[ENV_VAR] = options.to_environment()
    uvicorn.run("sertk.serve.server:app_from_environment", factory=True,
                workers=options.workers, **common)
