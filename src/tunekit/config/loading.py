"""Build a validated `RunConfig` from YAML and dotted `key=value` overrides."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tunekit.config.schema import RunConfig
from tunekit.errors import ConfigError


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (or start from defaults), apply ``section.key=value`` overrides, validate.

    Raises:
        ConfigError: the file is unreadable, a key is unknown, or a value is invalid.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", "check the path, or omit it to use defaults")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}", "fix the YAML syntax at the line shown") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} must hold a mapping of sections (data:, train:, ...)", None)
    for override in overrides or []:
        _apply_override(raw, override)
    return config_from_dict(raw)


def _apply_override(raw: dict[str, Any], override: str) -> None:
    key, sep, value = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not of the form key=value", "write e.g. train.learning_rate=3e-5")
    set_dotted(raw, key.strip(), _parse_value(value))


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw["train"]["learning_rate"]`` for the key ``train.learning_rate``, creating sections."""
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"`{key}`: `{part}` is not a section", "check the option name with `tunekit options`")
    node[parts[-1]] = value


_NULL_SPELLINGS = ("null", "Null", "NULL", "~", "''", '""')


def _parse_value(value: str) -> Any:
    """A YAML scalar or list, except that text YAML reads as nothing or cannot read stays literal text."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:  # e.g. `,` (a delimiter)
        return text
    if parsed in (None, "") and text not in _NULL_SPELLINGS:  # `|`, `>`, `#`: YAML syntax, meant literally
        return text
    return parsed


def config_from_dict(raw: dict[str, Any]) -> RunConfig:
    """Validate a nested mapping into a `RunConfig`, turning pydantic errors into one `ConfigError`."""
    try:
        return RunConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), "run `tunekit options` to list every option with its meaning") from None
    except TypeError as exc:  # a non-mapping where a section was expected
        raise ConfigError(f"invalid config: {exc}", None) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
        if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            lines.append(f"`{loc}` is not an option.{_suggestion(loc)}")
        elif error["type"] == "value_error":
            lines.append(str(error["msg"]).removeprefix("Value error, "))
        else:
            lines.append(f"`{loc}`: {error['msg']} (got {error.get('input')!r})")
    return "invalid config:\n  " + "\n  ".join(lines)


def _suggestion(loc: str) -> str:
    known = [name for name, _, _, _ in option_help()]
    sections = sorted({name.split(".")[0] for name in known})
    section, _, leaf = loc.rpartition(".")
    close = [k for k in known if k.startswith(f"{section}.") and _is_abbreviation(leaf, k.rsplit(".", 1)[-1])]
    close = close or difflib.get_close_matches(loc, known if section else sections, n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


def _is_abbreviation(short: str, name: str) -> bool:
    words = name.split("_")
    return len(short) == len(words) > 1 and all(w.startswith(c) for c, w in zip(short, words, strict=True))


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as plain nested dicts, ready for YAML."""
    return dataclasses.asdict(config)


def option_help(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """Every option as (dotted name, type, default, help text), read from the attribute docstrings."""
    rows: list[tuple[str, str, Any, str]] = []
    for name, info in cls.__pydantic_fields__.items():  # type: ignore[attr-defined]
        dotted = f"{prefix}{name}"
        annotation = info.annotation
        if dataclasses.is_dataclass(annotation):
            rows.extend(option_help(annotation, prefix=f"{dotted}."))
            continue
        default = info.default if info.default_factory is None else info.default_factory()
        type_name = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
        type_name = type_name or str(annotation).replace("typing.", "")
        rows.append((dotted, type_name, default, info.description or ""))
    return rows
