"""Classical baselines: openSMILE functionals + a linear classifier.

The standard reference points of speech emotion recognition: eGeMAPSv02 (Eyben et al.,
2016) and the larger ComParE 2016 set, each with a linear SVM or logistic regression, run in
the same harness as the neural models: same manifests, folds, outputs and reports.
"""
from sertk.classical.functionals import EGEMAPS_DIM, FEATURE_SETS, FunctionalsExtractor
from sertk.classical.linear import (CLASSIFIERS, LinearConfig, LinearModel, fit_linear,
                                    load_linear)

#: model name (``<feature set>-<classifier>``) -> (feature set, classifier) of LinearConfig
CLASSICAL_MODELS = {f"{features}-{classifier}": (features, classifier)
                    for features in FEATURE_SETS for classifier in CLASSIFIERS}


def is_classical(name: str) -> bool:
    return name in CLASSICAL_MODELS


__all__ = ["CLASSICAL_MODELS", "EGEMAPS_DIM", "FEATURE_SETS", "FunctionalsExtractor",
           "LinearConfig", "LinearModel", "fit_linear", "is_classical", "load_linear"]
