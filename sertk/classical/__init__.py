"""Classical baselines: openSMILE eGeMAPSv02 functionals + a linear classifier.

The standard reference point of speech emotion recognition (Eyben et al., 2016), run in
the same harness as the neural models: same manifests, folds, outputs and reports.
"""
from sertk.classical.egemaps import EGEMAPS_DIM, EgemapsExtractor
from sertk.classical.linear import LinearConfig, LinearModel, fit_linear, load_linear

#: model name -> classifier of :class:`LinearConfig`
CLASSICAL_MODELS = {"egemaps-svm": "svm", "egemaps-logreg": "logreg"}


def is_classical(name: str) -> bool:
    return name in CLASSICAL_MODELS


__all__ = ["CLASSICAL_MODELS", "EGEMAPS_DIM", "EgemapsExtractor", "LinearConfig", "LinearModel",
           "fit_linear", "is_classical", "load_linear"]
