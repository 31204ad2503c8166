"""What differs between the two tasks for the methods: the model class, PEFT's task type, the head's modules."""

from __future__ import annotations

from peft import TaskType
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

AUTO_MODEL_CLASSES = {
    "classification": AutoModelForSequenceClassification,
    "token_classification": AutoModelForTokenClassification,
}
PEFT_TASK_TYPES = {"classification": TaskType.SEQ_CLS, "token_classification": TaskType.TOKEN_CLS}


def head_modules(model: nn.Module) -> list[str]:
    """Names of the freshly initialised modules that every method trains in full (and saves with an adapter).

    The classifier, and BERT's pooler when the model has one: it feeds the sequence classifier.
    """
    names = ["classifier"]
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if getattr(base, "pooler", None) is not None:
        names.append("pooler")
    return names


def is_in_modules(parameter_name: str, module_names: list[str]) -> bool:
    """Whether ``parameter_name`` belongs to one of the modules named (by name or dotted suffix)."""
    parts = parameter_name.split(".")
    return any(name in parts[:-1] for name in module_names)
