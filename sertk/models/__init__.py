"""The paper's network, its seven ablations, and safe checkpoints (SPEC 2-3).

>>> from sertk.models import create_model, list_models
>>> list_models()
['proposed', 'base1', 'base2', 'base3', 'base4', 'base5', 'base6', 'base7']
"""
from sertk.models import zoo  # noqa: F401  (registers the models)
from sertk.models.checkpoint import (Checkpoint, CheckpointError, load_checkpoint, load_network,
                                     save_checkpoint)
from sertk.models.registry import create_model, describe_model, list_models, register_model
from sertk.models.sernet import SERNet, SERNetConfig
from sertk.models.summary import ModelSummary, count_parameters, summarize_models

__all__ = [
    "Checkpoint", "CheckpointError", "ModelSummary", "SERNet", "SERNetConfig", "count_parameters",
    "create_model", "describe_model", "list_models", "load_checkpoint", "load_network",
    "register_model", "save_checkpoint", "summarize_models",
]
