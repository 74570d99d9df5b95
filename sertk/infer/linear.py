"""Predicting files with a classical model (``egemaps-svm``, ``compare-svm``, ...).

A classical checkpoint (:func:`sertk.classical.load_linear`: ``config.json`` + safetensors,
written by ``sertk train --model compare-svm`` or by each fold of ``sertk cv``) scores the
openSMILE functionals of a whole file, as in training. :class:`LinearPredictor` gives it
the batch interface of :class:`~sertk.infer.predictor.Predictor`: one
:class:`~sertk.infer.results.FileResult` per path, in order, a bad file named in its own row;
``no-speech`` where the voice activity detector finds too little speech; ``uncertain``
below ``min_confidence``. A speaker-normalised model standardises the functionals of the
files it is given as one speaker's recordings (at least two of them).

Its probabilities are a softmax of the decision scores over a temperature fitted on the
validation part that chose C (:mod:`sertk.classical.linear`).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sertk.audio import MAX_FILE_SECONDS, SAMPLE_RATE, AudioError, load_audio
from sertk.classical import FunctionalsExtractor, load_linear
from sertk.classical.linear import FORMAT, normalise_by_group, read_config
from sertk.infer.results import FileResult, Prediction
from sertk.vad import VADOptions, has_enough_speech


def is_linear_model(path: str | Path | None) -> bool:
    """Whether ``path`` is a folder holding a classical model's ``config.json``."""
    if path is None or not (Path(path) / "config.json").is_file():
        return False
    try:
        raw = read_config(path)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(raw, dict) and raw.get("format") == FORMAT


class LinearPredictor:
    """A classical model on files (see the module docstring).

    Args:
        directory: the model's folder.
        vad: thresholds of the speech detector; None predicts every file.
        max_seconds: longer files are refused (as in training).
    """

    dimensions: tuple[str, ...] = ()

    def __init__(self, directory: str | Path, vad: VADOptions | None = VADOptions(),
                 max_seconds: float = MAX_FILE_SECONDS):
        self.model = load_linear(directory)
        self.labels = list(self.model.labels)
        self.extractor = FunctionalsExtractor(self.model.config.feature_set, cache_root=False)
        self.vad = vad
        self.max_seconds = max_seconds
        self.min_confidence = 0.0

    @property
    def speaker_normalised(self) -> bool:
        return self.model.config.normalisation == "speaker"

    def predict_files(self, paths: Iterable[str | Path]) -> list[FileResult]:
        """One :class:`FileResult` per path, in order; never raises for a bad file."""
        paths = [str(p) for p in paths]
        results: list[FileResult | None] = [None] * len(paths)
        vectors: dict[int, np.ndarray] = {}
        durations: dict[int, float] = {}
        for index, path in enumerate(paths):
            try:
                wave = load_audio(path, SAMPLE_RATE, max_seconds=self.max_seconds)
                durations[index] = wave.size / SAMPLE_RATE
                if self.vad is not None and not has_enough_speech(wave, SAMPLE_RATE, self.vad):
                    results[index] = FileResult(path, Prediction.no_speech(),
                                                duration=durations[index])
                    continue
                vectors[index] = self.extractor.of_wave(wave)
            except AudioError as err:
                results[index] = FileResult(path, error=err.reason)
            except ValueError as err:  # too short or silent for the functionals
                results[index] = FileResult(path, error=str(err))
        if vectors:
            order = sorted(vectors)
            x = np.stack([vectors[i] for i in order]).astype(np.float64)
            if self.speaker_normalised:
                if len(order) < 2:
                    reason = ("a speaker-normalised model needs at least two recordings of "
                              "the speaker; got one")
                    for i in order:
                        results[i] = FileResult(paths[i], error=reason)
                    return results  # type: ignore[return-value]
                x = normalise_by_group(x, ["speaker"] * len(order))
            for i, row in zip(order, self.model.probabilities(x)):
                prediction = Prediction.from_probabilities(self.labels, row)
                results[i] = FileResult(paths[i], prediction.abstaining(self.min_confidence),
                                        duration=durations[i])
        return results  # type: ignore[return-value]

    def __repr__(self) -> str:
        config = self.model.config
        return (f"LinearPredictor({config.feature_set}-{config.classifier}, "
                f"labels={self.labels}, normalisation={config.normalisation!r})")
