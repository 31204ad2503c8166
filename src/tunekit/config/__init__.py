"""Configuration dataclasses and their YAML/CLI loading."""

from tunekit.config.loading import config_from_dict, config_to_dict, load_config, option_help, set_dotted
from tunekit.config.schema import (
    DataConfig,
    EvalConfig,
    LoraConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)

__all__ = [
    "DataConfig",
    "EvalConfig",
    "LoraConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "option_help",
    "set_dotted",
]
