"""Inference: emotion predictions for clips, files, folders and long recordings.

- :mod:`~sertk.infer.predictor`: :func:`load_model` and :class:`Predictor` (clips, files in batches)
- :mod:`~sertk.infer.longform`: sliding windows over long recordings, files or arrays
  (emotion over time)
- :mod:`~sertk.infer.frames`: predictions as a pandas DataFrame by (file, start, end)
- :mod:`~sertk.infer.embeddings`: embeddings of many files; .npy/.parquet/.csv output
- :mod:`~sertk.infer.stream`: reading only what is needed; streaming long files
- :mod:`~sertk.infer.paths`: files, folders and list files -> audio paths
- :mod:`~sertk.infer.layout`: the array layouts ``predict(array, sr)`` accepts
- :mod:`~sertk.infer.output`: table, CSV and JSON output
- :mod:`~sertk.infer.bundled`: bundled pretrained models
"""
from sertk.infer.bundled import DEFAULT_MODEL, ModelNotFoundError, list_bundled, resolve_model
from sertk.infer.longform import (LongformResult, SegmentOptions, WindowOptionError,
                                  WindowPrediction, iter_windows, predict_long)
from sertk.infer.paths import collect_audio_paths
from sertk.infer.predictor import (FileResult, ModelOutputError, Prediction, PredictOptions,
                                   Predictor, load_model)

__all__ = [
    "DEFAULT_MODEL", "FileResult", "LongformResult", "ModelNotFoundError", "ModelOutputError",
    "PredictOptions", "Prediction", "Predictor", "SegmentOptions", "WindowOptionError",
    "WindowPrediction", "collect_audio_paths",
    "iter_windows", "list_bundled", "load_model", "predict_long", "resolve_model",
]
