"""A linear classifier on standardised feature vectors, saved without pickle.

The classical peer of speech emotion recognition: z-normalised eGeMAPS functionals and
a linear SVM (or multinomial logistic regression), with the regularisation ``C`` chosen
by **validation UA only** (the training part's validation speakers or utterances; the
test part never chooses anything). The fitted model is just numbers, the standardiser's
mean and std (D,), the weights (C, D) and biases (C,), saved as safetensors beside a JSON
file, so loading it never unpickles anything.

Scores -> probabilities: the softmax of the decision scores divided by a temperature ``T``,
fitted (negative log-likelihood) on the validation part that chose C; 1.0 without one.
An SVM's margins are not log-odds: scaled by ``T`` they give probabilities that mean
something on the validation data, never a different label (the argmax stays).

Normalisation (``normalisation``):

- ``fold``: mean and std of the training part (the default, deployable);
- ``speaker``: each speaker's vectors are z-scored with that speaker's own statistics
  (all of its utterances, labels unused), training and test speakers alike, before the
  training-part standardiser. Standard in SER papers, but transductive: at prediction
  time it needs a set of the same speaker's recordings.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sertk.fileio import atomic_write, read_text

FORMAT = "sertk-linear"
VERSION = 1
CLASSIFIERS = ("svm", "logreg")
# Temperatures a linear model may use: SVM margins can be far smaller than log-odds.
TEMPERATURES = (1e-4, 1e2)
MAX_CONFIG_BYTES = 1_000_000
FEATURE_SET_NAMES = ("egemaps", "compare")  # sertk.classical.functionals.FEATURE_SETS
NORMALISATIONS = ("fold", "speaker")
STD_FLOOR = 1e-8


@dataclass(frozen=True)
class LinearConfig:
    """How a linear model is fitted; ``c_grid`` values are tried on the validation part."""

    classifier: str = "svm"
    feature_set: str = "egemaps"
    c_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    default_c: float = 1e-2  # used when there is no validation part
    normalisation: str = "fold"
    class_weight: str | None = "balanced"
    max_iter: int = 10000
    seed: int = 0

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, "
                             f"got {self.classifier!r}")
        if self.feature_set not in FEATURE_SET_NAMES:
            raise ValueError(f"feature_set must be one of {', '.join(FEATURE_SET_NAMES)}, "
                             f"got {self.feature_set!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation for a linear model must be one of "
                             f"{', '.join(NORMALISATIONS)}, got {self.normalisation!r}")
        values = (*self.c_grid, self.default_c)
        if not self.c_grid or not all(np.isfinite(c) and c > 0 for c in values):
            raise ValueError(f"C values must be positive and finite, got {values}")
        if type(self.max_iter) is not int or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be 'balanced' or null, got {self.class_weight!r}")


@dataclass
class LinearModel:
    """A fitted linear classifier: ``scores = ((x - mean) / std) @ weight.T + bias``."""

    labels: list[str]
    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)
    weight: np.ndarray  # (C, D)
    bias: np.ndarray  # (C,)
    config: LinearConfig
    c: float
    metadata: dict = field(default_factory=dict)
    temperature: float = 1.0  # probabilities = softmax(scores / temperature)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(N, D) feature vectors -> (N, C) decision scores."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected (N, {self.mean.shape[0]}) features, got {x.shape}")
        return ((x - self.mean) / self.std) @ self.weight.T + self.bias

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, C) softmax of the scores / temperature (module docstring)."""
        s = self.scores(x) / self.temperature
        s = np.exp(s - s.max(axis=1, keepdims=True))
        return s / s.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> list[str]:
        return [self.labels[j] for j in self.scores(x).argmax(axis=1)]

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` + ``weights.safetensors`` into ``directory`` (atomically each)."""
        from safetensors.numpy import save

        directory = Path(directory)
        tensors = {"mean": self.mean, "std": self.std, "weight": self.weight, "bias": self.bias}
        atomic_write(directory / "weights.safetensors",
                     save({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()}))
        config = {"format": FORMAT, "version": VERSION, "labels": self.labels, "c": self.c,
                  "temperature": self.temperature,
                  "config": {**asdict(self.config), "c_grid": list(self.config.c_grid)},
                  "metadata": self.metadata}
        atomic_write(directory / "config.json", json.dumps(config, indent=2) + "\n")
        return directory


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) -> mean (D,), std (D,) with a floor (constant features stay finite)."""
    return x.mean(axis=0), np.maximum(x.std(axis=0), STD_FLOOR)


def normalise_by_group(x: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """(N, D) vectors z-scored within each group (speaker) with the group's own statistics."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    groups = np.asarray(groups)
    for group in np.unique(groups):
        rows = groups == group
        mean, std = standardiser(x[rows])
        out[rows] = (x[rows] - mean) / std
    return out


def fit_linear(x_train: np.ndarray, y_train: Sequence[str], labels: Sequence[str],
               config: LinearConfig = LinearConfig(), *, x_val: np.ndarray | None = None,
               y_val: Sequence[str] | None = None) -> LinearModel:
    """Fit on (N, D) training vectors; choose ``C`` by UA on the validation part if given.

    Vectors are expected already speaker-normalised when ``config.normalisation ==
    "speaker"`` (:func:`normalise_by_group`); the training-part standardiser is fitted here.
    """
    from sertk.eval.metrics import unweighted_accuracy

    labels = [str(c) for c in labels]
    x_train = np.asarray(x_train, dtype=np.float64)
    mean, std = standardiser(x_train)
    z_train = (x_train - mean) / std
    has_val = x_val is not None and len(x_val) > 0
    candidates = config.c_grid if has_val else (config.default_c,)
    best = None
    for c in candidates:
        weight, bias = _fit_one(z_train, list(y_train), labels, c, config)
        model = LinearModel(labels, mean, std, weight, bias, config, float(c))
        if not has_val:
            return model
        ua = unweighted_accuracy(list(y_val), model.predict(x_val))
        if best is None or ua > best[0] + 1e-12:  # ties keep the smaller C
            best = (ua, model)
    model = best[1]
    model.metadata["val_ua"] = float(best[0])
    from sertk.eval.calibration import fit_temperature

    targets = [labels.index(str(y)) for y in y_val]
    model.temperature = fit_temperature(model.scores(x_val), targets, TEMPERATURES)
    return model


def _fit_one(z: np.ndarray, y: list[str], labels: list[str], c: float,
             config: LinearConfig) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if config.classifier == "svm":
        clf = LinearSVC(C=c, class_weight=config.class_weight, max_iter=config.max_iter,
                        random_state=config.seed, dual="auto")
    else:
        clf = LogisticRegression(C=c, class_weight=config.class_weight, max_iter=config.max_iter)
    clf.fit(z, y)
    classes = [str(k) for k in clf.classes_]
    weight = np.zeros((len(labels), z.shape[1]))
    bias = np.full(len(labels), -1e9)  # a label absent from training is never predicted
    coef, intercept = clf.coef_, np.atleast_1d(clf.intercept_)
    if len(classes) == 2:  # sklearn keeps one row for two classes: split it symmetrically
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    for row, name in enumerate(classes):
        j = labels.index(name)
        weight[j], bias[j] = coef[row], intercept[row]
    return weight, bias


def load_linear(directory: str | os.PathLike) -> LinearModel:
    """Load a model saved by :meth:`LinearModel.save`, checking every field first.

    Raises:
        ValueError: naming the directory and what is wrong.
    """
    from safetensors.numpy import load_file

    directory = Path(directory)
    where = str(directory)
    try:
        raw = read_config(directory)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} v{VERSION} model")
        labels = raw["labels"]
        if (not isinstance(labels, list) or not labels
                or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels)):
            raise ValueError("labels must be a list of distinct non-empty strings")
        settings = dict(raw["config"])
        settings["c_grid"] = tuple(settings["c_grid"])
        config = LinearConfig(**settings)
        c = float(raw["c"])
        temperature = float(raw.get("temperature", 1.0))  # 1.0: saved before calibration
        if not (math.isfinite(temperature) and TEMPERATURES[0] <= temperature <= TEMPERATURES[1]):
            raise ValueError(f"temperature must lie in {TEMPERATURES}, got {temperature}")
        tensors = load_file(str(directory / "weights.safetensors"))
    except (OSError, KeyError, TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"{where}: cannot load a linear model ({_reason(err)})") from None
    shapes = {k: v.shape for k, v in tensors.items()}
    dim = shapes.get("mean", (0,))[0] if len(shapes.get("mean", ())) == 1 else 0
    expected = {"mean": (dim,), "std": (dim,), "weight": (len(labels), dim), "bias": (len(labels),)}
    if dim == 0 or shapes != expected:
        raise ValueError(f"{where}: weights have shapes {shapes}, expected {expected}")
    if not all(np.isfinite(v).all() for k, v in tensors.items() if k != "bias") or (tensors["std"] <= 0).any():
        raise ValueError(f"{where}: weights hold non-finite values or a std <= 0")
    return LinearModel(labels, tensors["mean"], tensors["std"], tensors["weight"], tensors["bias"],
                       config, c, dict(raw.get("metadata") or {}), temperature)


def read_config(directory: str | os.PathLike) -> object:
    """The JSON value of ``directory/config.json``, read only after its size is checked
    (a real one is ~1 kB; at most :data:`MAX_CONFIG_BYTES`).

    Raises:
        OSError: it cannot be read; ValueError: too large, or not JSON.
    """
    path = Path(directory) / "config.json"
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError("config.json is implausibly large")
    return json.loads(read_text(path), parse_constant=_refuse_constant)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _reason(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err}"
    if isinstance(err, RecursionError):
        return "JSON nested too deeply"
    return str(err).splitlines()[0] if str(err) else type(err).__name__
