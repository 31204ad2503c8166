"""Serving configuration: limits, micro-batching, monitoring and alert rules, read from an optional YAML file.

One dataclass per concern, attribute docstrings as help text, like `tunekit.config.schema`; kept here because
only the server reads it.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from tunekit.errors import ConfigError

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)


@dataclass(config=_STRICT)
class LimitsConfig:
    max_body_bytes: int = 1_000_000
    """Largest request body accepted; larger ones are answered 413."""
    max_batch_texts: int = 256
    """Most texts in one request; more are answered 413."""
    max_text_chars: int = 10_000
    """Longest single text in characters; longer ones are answered 422."""
    max_explain_texts: int = 8  # occlusion runs the model once per word: explanations cost ~20x a prediction
    """Most texts in one /v1/explain request."""
    max_explain_chars: int = 2000
    """Longest text /v1/explain accepts."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch_texts", "max_text_chars", "max_explain_texts", "max_explain_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"`limits.{name}` must be at least 1")


@dataclass(config=_STRICT)
class BatchingConfig:
    max_batch_size: int = 64
    """Most texts run through the model at once, gathered across concurrent requests."""
    max_wait_ms: float = 2.0
    """How long the first queued text waits for others to join its batch when the model is idle."""
    model_batch_size: int = 8  # measured on MiniLM-L6 / SST-2: 8 beats 32 by ~1.5x, since short slices pad less
    """Texts per forward pass inside a batch: length-sorted slices of this size are padded only to their longest."""
    torch_threads: int | None = None
    """Threads torch uses for inference. None: `tunekit serve` uses cores / workers (at least 1); an app built
    with `create_app` keeps the process's setting."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.model_batch_size < 1:
            raise ValueError("`batching.max_batch_size` and `batching.model_batch_size` must be at least 1")
        if not 0.0 <= self.max_wait_ms <= 1000.0:
            raise ValueError(f"`batching.max_wait_ms` must be between 0 and 1000, got {self.max_wait_ms}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError("`batching.torch_threads` must be at least 1")


@dataclass(config=_STRICT)
class AlertRule:
    """One alert: a monitored value over the last `window` predictions compared with `above`."""

    name: str
    """Identifies the alert in /v1/alerts, metrics and webhook payloads."""
    kind: Literal["label_share", "label_psi", "length_psi"]
    """`label_share`: share of `label` among recent predictions; `label_psi` / `length_psi`: population stability
    index of the predicted labels / input lengths against the training data."""
    above: float
    """The alert fires while the value is above this."""
    label: str | None = None
    """The label whose share is watched (`label_share` only), as it appears in responses."""
    window: int = 500
    """Number of most recent predictions the value is computed over; nothing fires before the window is full."""

    @field_validator("label", mode="before")
    @classmethod
    def _label_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    def __post_init__(self) -> None:
        if self.kind == "label_share" and self.label is None:
            raise ValueError(f"alert `{self.name}`: `label` is required for kind label_share")
        if self.kind != "label_share" and self.label is not None:
            raise ValueError(f"alert `{self.name}`: `label` applies only to kind label_share")
        if self.window < 1:
            raise ValueError(f"alert `{self.name}`: `window` must be at least 1")


@dataclass(config=_STRICT)
class MonitoringConfig:
    drift_window: int = 1000
    """Recent predictions the label and length drift gauges are computed over."""
    alerts: list[AlertRule] = field(default_factory=list)
    """Alert rules, evaluated after every batch."""
    webhook_url: str | None = None
    """If set, each alert that starts or stops firing is POSTed here as JSON."""
    webhook_timeout_s: float = 5.0
    """Timeout of one webhook POST; failures are logged, never retried."""

    def __post_init__(self) -> None:
        if self.drift_window < 1:
            raise ValueError("`monitoring.drift_window` must be at least 1")
        names = [rule.name for rule in self.alerts]
        if len(set(names)) != len(names):
            raise ValueError("`monitoring.alerts`: each rule needs a distinct `name`")
        if self.webhook_url is not None and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("`monitoring.webhook_url` must start with http:// or https://")


@dataclass(config=_STRICT)
class ServeConfig:
    """Everything `tunekit serve --config FILE` reads; every section is optional."""

    limits: LimitsConfig = field(default_factory=LimitsConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    require_api_key: bool = True
    """Require an API key on every route but /healthz and /readyz. Turn off only behind another gateway."""
    compressed: bool = False
    """Classify with the ONNX model (int8 or fp32) `tunekit compress RUN_DIR` wrote (docs/compress.md);
    /v1/explain's occlusion then explains that model, the one answering."""


def load_serve_config(path: str | Path | None) -> ServeConfig:
    """Read and validate a serving YAML file; None gives the defaults.

    Raises:
        ConfigError: the file is missing, not YAML, or holds an unknown key or a bad value.
    """
    if path is None:
        return ServeConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"serving config {path} does not exist", "check the path, or omit --config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", "fix the YAML syntax at the line shown") from None
    return serve_config_from_dict(raw, str(path))


def serve_config_from_dict(raw: object, source: str = "serving config") -> ServeConfig:
    """Validate a mapping (YAML's content) into a `ServeConfig`."""
    try:
        return TypeAdapter(ServeConfig).validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"`{'.'.join(map(str, e['loc'])) or 'config'}`: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source}: {problems}", "fix those options (see docs/serving.md)") from None
