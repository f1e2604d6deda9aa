"""The value model: text encoder + value head, trained on a Dataset to predict how a user values an item.

Public surface:
    TrainConfig, Progress                       configuration and progress reports
    train(dataset, config, ...)                 -> ValueModel
    estimate_training_time(dataset, config)     -> seconds
    ValueModel                                  predict / recommend / texts / pair_inputs / score_inputs / save
    load_model(path)                            -> ValueModel (checked)
    default_encoder_dir()                       the bundled, hash-checked all-MiniLM-L6-v2 folder
    ModelLoadError, TrainingCancelled           errors
    read_positions(kinds, late, k)              which of a user's recent events the model reads
"""

from uvp_core.model.config import Progress, TrainConfig
from uvp_core.model.encoder import check_encoder_dir, clear_embedding_cache, default_encoder_dir, load_encoder
from uvp_core.model.errors import ModelLoadError, TrainingCancelled
from uvp_core.model.features import read_positions
from uvp_core.model.persistence import load_model
from uvp_core.model.training import estimate_training_time, train
from uvp_core.model.value_model import HistoryEvent, PairInputs, ValueModel

__all__ = [
    "HistoryEvent",
    "ModelLoadError",
    "PairInputs",
    "Progress",
    "TrainConfig",
    "TrainingCancelled",
    "ValueModel",
    "check_encoder_dir",
    "clear_embedding_cache",
    "default_encoder_dir",
    "estimate_training_time",
    "load_encoder",
    "load_model",
    "read_positions",
    "train",
]
