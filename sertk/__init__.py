"""sertk: speech emotion recognition toolkit.

Implements "Multiple Enhancements to LSTM for Learning Emotion-Salient Features
in Speech Emotion Recognition" (Interspeech 2022) and goes beyond it.

The public API is imported on first use, so ``import sertk`` stays light:

>>> import sertk
>>> predictor = sertk.load_model()  # the bundled EmoDB model  # doctest: +SKIP
>>> predictor.predict_files(["clip.wav"])[0].prediction.label  # doctest: +SKIP
'anger'
>>> sertk.predict("clip.wav").probabilities  # doctest: +SKIP
>>> sertk.predict("clip.wav", top_k=2)  # Hugging Face pipeline shape  # doctest: +SKIP
>>> sertk.predict_frame("clips/", segment=2.0)  # DataFrame by (file, start, end)  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING

__version__ = importlib.metadata.version("sertk")

_LAZY = {
    "load_model": "sertk.infer",
    "predict": "sertk.infer.api",
    "predict_frame": "sertk.infer.api",
    "Predictor": "sertk.infer",
    "Prediction": "sertk.infer",
    "ModelOutputError": "sertk.infer",
    "PredictOptions": "sertk.infer",
    "FileResult": "sertk.infer",
    "SegmentOptions": "sertk.infer",
    "LongformResult": "sertk.infer",
    "export_onnx": "sertk.export",
    "export_torchscript": "sertk.export",
    "create_model": "sertk.models",
    "list_models": "sertk.models",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from sertk.export import export_onnx, export_torchscript
    from sertk.infer import (FileResult, LongformResult, ModelOutputError, Prediction,
                             PredictOptions, Predictor, SegmentOptions, load_model)
    from sertk.infer.api import predict, predict_frame
    from sertk.models import create_model, list_models


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sertk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
