"""Classical baselines: openSMILE eGeMAPSv02 functionals + a linear classifier.

The standard reference point of speech emotion recognition (Eyben et al., 2016), run in
the same harness as the neural models: same manifests, folds, outputs and reports.
"""
from sertk.classical.egemaps import EGEMAPS_DIM, EgemapsExtractor
from sertk.classical.linear import LinearConfig, LinearModel, fit_linear, load_linear

__all__ = ["EGEMAPS_DIM", "EgemapsExtractor", "LinearConfig", "LinearModel", "fit_linear",
           "load_linear"]
