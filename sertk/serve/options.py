"""The server's settings (limits, pool, binding), shared by the command line and the workers."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV_VAR = "SERTK_SERVE_OPTIONS"  # how `--workers N` hands the settings to each worker


@dataclass(frozen=True)
class ServeOptions:
    """What ``sertk serve`` was started with.

    ``max_upload_bytes``: larger bodies are refused (413) before they are read.
    ``max_duration``: longer audio (by its header) is refused (413), in seconds.
    ``pool``: inferences running at once per worker; one more is refused (503 with
    ``Retry-After: retry_after``). ``timeout``: seconds from a request's arrival to
    its answer (upload and inference); past it, 408 (upload) or 504 (inference).
    ``int8``/``bf16``: the model runs in that reduced precision (``sertk predict --int8``
    / ``--bf16``; refused at start where it cannot run).
    """

    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    device: str | None = "cpu"
    vad: bool = True
    max_upload_bytes: int = 50_000_000
    max_duration: float = 600.0
    pool: int = 2
    timeout: float = 120.0
    retry_after: int = 1
    threads: int = 1
    int8: bool = False
    bf16: bool = False

    def __post_init__(self):
        checks = [("workers", self.workers >= 1), ("pool", self.pool >= 1),
                  ("max_upload_bytes", self.max_upload_bytes >= 1),
                  ("max_duration", self.max_duration > 0), ("timeout", self.timeout > 0),
                  ("retry_after", self.retry_after >= 1), ("threads", self.threads >= 1),
                  ("port", 0 <= self.port <= 65535)]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"{name} out of range: {getattr(self, name)!r}")

    def to_environment(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> "ServeOptions":
        text = os.environ.get(ENV_VAR)
        if not text:
            raise RuntimeError(f"{ENV_VAR} is not set: start workers with `sertk serve`")
        return cls(**json.loads(text))
