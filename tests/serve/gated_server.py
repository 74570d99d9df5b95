"""``sertk serve`` whose model waits at a gate: the tests hold an inference in progress.

    python tests/serve/gated_server.py GATE_DIR CHECKPOINT PORT [sertk serve options...]

Each model call writes ``GATE_DIR/entered-<n>`` and then waits until ``GATE_DIR/open``
exists (polling), so a test can fill the inference pool, see what the server answers
meanwhile, and then let the inference finish. Everything else is the real server.
"""
from __future__ import annotations

import sys
import time
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn  # noqa: E402

from sertk.serve import ServeOptions, create_app, load_predictor  # noqa: E402


def main() -> None:
    gate, checkpoint, port = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    pool, timeout = int(sys.argv[4]), float(sys.argv[5])
    options = ServeOptions(model=checkpoint, port=port, pool=pool, timeout=timeout)
    predictor = load_predictor(options)
    outputs = predictor.outputs  # the one model call of every prediction path
    calls = count()

    def gated(waves):
        (gate / f"entered-{next(calls)}").touch()
        while not (gate / "open").exists():
            time.sleep(0.05)
        return outputs(waves)

    predictor.outputs = gated
    uvicorn.run(create_app(predictor, options), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
