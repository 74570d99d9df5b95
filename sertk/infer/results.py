"""What prediction gives back: a :class:`Prediction` (label and probabilities), a batch
job's :class:`FileResult` (a prediction or the reason there is none), and
:class:`ModelOutputError` for output that is not a probability.

They live below :mod:`sertk.infer.predictor` and :mod:`sertk.infer.longform` so that both
use them without importing each other.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sertk.vad import NO_SPEECH

NON_FINITE_OUTPUT = "model produced non-finite output"
#: The label of a prediction whose top probability is below ``min_confidence``.
UNCERTAIN = "uncertain"


class ModelOutputError(RuntimeError):
    """The model's probabilities are not finite numbers (NaN or infinity): no label."""


@dataclass(frozen=True)
class Prediction:
    """The most probable label and the probability of every label (they sum to 1); for a
    model with a dimension head, its ratings (``{"arousal": 3.2, ...}``, on the training
    corpus's scale; empty for other models).

    A clip without enough speech (see :mod:`sertk.vad`) gets the label ``no-speech``
    and no probabilities: the model is not asked about it.
    """

    label: str
    probabilities: dict[str, float]
    dimensions: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        # the one output check every prediction path shares: no label from NaN or inf
        if not all(math.isfinite(p) for p in (*self.probabilities.values(),
                                              *self.dimensions.values())):
            raise ModelOutputError(NON_FINITE_OUTPUT)

    @property
    def probability(self) -> float | None:
        """Probability of the predicted label (None for ``no-speech``)."""
        return self.probabilities.get(self.label)

    @property
    def is_speech(self) -> bool:
        return self.label != NO_SPEECH

    def top(self, k: int | None = None) -> list[dict[str, str | float]]:
        """The ``k`` most probable labels, most probable first, in the shape of the
        Hugging Face audio-classification pipeline: ``[{"label": "anger", "score": 0.91},
        {"label": "happiness", "score": 0.06}, ...]``.

        ``k=None`` or a ``k`` above the number of labels gives every label (as the
        pipeline does); equal scores keep the model's label order. A prediction without
        probabilities (``no-speech``) gives ``[{"label": "no-speech", "score": 1.0}]``:
        the detector, not the model, answered, and the one answer is certain.

        Raises:
            ValueError: ``k`` is not a positive integer.
        """
        check_top_k(k)
        if not self.probabilities:
            return [{"label": self.label, "score": 1.0}]
        ranked = sorted(self.probabilities.items(), key=lambda item: -item[1])  # stable
        return [{"label": label, "score": score} for label, score in ranked[:k]]

    def abstaining(self, min_confidence: float) -> "Prediction":
        """This prediction, or the same probabilities labelled ``uncertain`` when the top
        probability is below ``min_confidence`` (``no-speech`` is kept as it is)."""
        if not self.probabilities or max(self.probabilities.values()) >= min_confidence:
            return self
        return Prediction(UNCERTAIN, self.probabilities, self.dimensions)

    @classmethod
    def no_speech(cls) -> "Prediction":
        """The prediction of a clip in which nobody speaks."""
        return cls(NO_SPEECH, {})

    @classmethod
    def from_probabilities(cls, labels: Sequence[str], probs: np.ndarray,
                           dimensions: Sequence[str] = (),
                           ratings: np.ndarray | None = None) -> "Prediction":
        """From a (n_classes,) probability vector in ``labels`` order, and the (D,)
        ``ratings`` of ``dimensions`` for a model with a dimension head.

        Raises:
            ModelOutputError: a probability or rating is NaN or infinite.
        """
        rated = {} if ratings is None else {k: float(r) for k, r in zip(dimensions, ratings)}
        return cls(labels[int(np.argmax(probs))], {k: float(p) for k, p in zip(labels, probs)},
                   rated)


def check_top_k(k) -> None:
    """Raise ``ValueError`` unless ``k`` is None or an integer >= 1."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
        raise ValueError(f"top_k must be a positive integer (or None for every label), got {k!r}")


@dataclass(frozen=True)
class FileResult:
    """One row of a batch job: a prediction, or the reason the file has none. ``duration`` is
    the file's length in seconds from its header (None if unreadable); only its first
    ``max_seconds`` were used."""

    path: str
    prediction: Prediction | None = None
    error: str | None = None
    duration: float | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None
