"""load_config: YAML + dotted overrides, helpful errors for unknown keys and bad values, round trips."""

from __future__ import annotations

import pytest

from tunekit.config import RunConfig, config_from_dict, config_to_dict, load_config, option_help
from tunekit.errors import ConfigError


def write_yaml(tmp_path, text: str):
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_values_and_overrides_are_applied(tmp_path):
    path = write_yaml(tmp_path, """
data:
  train: train.csv
  text_column: sentence
  max_seq_len: 64
method: lora
lora:
  r: 4
train:
  epochs: 2
  learning_rate: 1.0e-4
""")
    config = load_config(path, ["train.learning_rate=3e-5", "train.batch_size=8",
                                "lora.target_modules=[query, value]", "data.validation=dev.csv"])
    assert config.data.train == "train.csv"
    assert config.data.text_column == "sentence"
    assert config.data.max_seq_len == 64
    assert config.data.validation == "dev.csv"
    assert config.method == "lora"
    assert config.lora.r == 4
    assert config.lora.target_modules == ["query", "value"]
    assert config.train.epochs == 2
    assert config.train.learning_rate == pytest.approx(3e-5)  # override wins over the file
    assert config.train.batch_size == 8
    assert config.train.seed == 0  # untouched defaults stay


def test_no_file_gives_defaults_and_empty_override_value_is_none(tmp_path):
    config = load_config(None, ["train.max_grad_norm="])
    assert config.train.max_grad_norm is None
    assert config.data.text_column == "text"
    assert config.model.name == "minilm-l6"
    empty = load_config(write_yaml(tmp_path, "# only a comment\n"))
    assert config_to_dict(empty) == config_to_dict(RunConfig())


@pytest.mark.parametrize(("override", "unknown", "suggestion"), [
    ("train.lr=1e-4", "train.lr", "train.learning_rate"),
    ("trian.epochs=3", "trian", "train"),
    ("train.epoch=3", "train.epoch", "train.epochs"),
    ("data.max_len=64", "data.max_len", "data.max_seq_len"),
])
def test_unknown_key_suggests_the_right_name(override, unknown, suggestion):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert f"`{unknown}` is not an option" in caught.value.problem
    assert f"Did you mean `{suggestion}`?" in caught.value.problem
    assert caught.value.fix


def test_unknown_key_in_yaml_file_is_reported(tmp_path):
    path = write_yaml(tmp_path, "train:\n  lr: 0.001\n")
    with pytest.raises(ConfigError, match=r"Did you mean `train.learning_rate`"):
        load_config(path)


def test_unrelated_unknown_key_has_no_suggestion():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["train.zzzzqqq=1"])
    assert "`train.zzzzqqq` is not an option." in caught.value.problem
    assert "Did you mean" not in caught.value.problem


@pytest.mark.parametrize(("override", "key", "got"), [
    ("train.batch_size=abc", "train.batch_size", "'abc'"),
    ("train.lr_schedule=exponential", "train.lr_schedule", "'exponential'"),
    ("method=adapters", "method", "'adapters'"),
    ("data.multi_label=maybe", "data.multi_label", "'maybe'"),
    ("model=3", "model", "3"),
])
def test_wrong_type_names_the_option_and_value(override, key, got):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert f"`{key}`: " in caught.value.problem
    assert f"(got {got})" in caught.value.problem


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.warmup_ratio=0.1", "train.warmup_steps=10"], "both set"),
    (["data.long_text=chunk", "data.text_pair_column=hypothesis"], "data.long_text=truncate"),
    (["data.validation_size=0.7"], "data.validation_size` must be between 0 and 0.5"),
    (["data.validation_size=0"], "data.validation_size` must be between 0 and 0.5"),
    (["data.test_size=-0.1"], "data.test_size` must be between 0 and 0.5"),
    (["data.max_seq_len=4"], "data.max_seq_len` must be at least 8"),
    (["data.long_text=chunk", "data.max_seq_len=32", "data.chunk_stride=16"], "chunk_stride"),
    (["train.warmup_ratio=1.0"], "train.warmup_ratio` must be in [0, 1)"),
    (["train.batch_size=0"], "train.batch_size` must be at least 1"),
    (["train.learning_rate=2"], "train.learning_rate` must be in (0, 1)"),
    (["train.epochs=0"], "train.epochs` must be positive"),
])
def test_cross_field_checks(overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, overrides)
    assert message in caught.value.problem
    assert not caught.value.problem.count("Value error")  # pydantic's prefix is stripped


def test_valid_neighbours_of_the_cross_field_checks_pass():
    config = load_config(None, ["train.warmup_steps=0", "data.long_text=chunk", "data.max_seq_len=32",
                                "data.chunk_stride=15", "data.validation_size=0.49"])
    assert config.train.warmup_steps == 0
    assert config.data.chunk_stride == 15


def test_several_problems_are_reported_together():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["train.lr=1", "eval.batch_size=many"])
    assert "train.lr" in caught.value.problem
    assert "eval.batch_size" in caught.value.problem


def test_invalid_yaml(tmp_path):
    path = write_yaml(tmp_path, "data:\n  train: [unclosed\n  text_column: text\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "is not valid YAML" in caught.value.problem
    assert str(path) in caught.value.problem
    assert caught.value.fix


def test_yaml_that_is_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write_yaml(tmp_path, "- data\n- train\n"))


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert "does not exist" in caught.value.problem
    assert str(missing) in caught.value.problem


@pytest.mark.parametrize("override", ["train.epochs", "=3", "train.epochs:3"])
def test_malformed_override(override):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, [override])


def test_override_into_a_non_section():
    with pytest.raises(ConfigError, match="`method` is not a section"):
        load_config(None, ["method=lora", "method.r=3"])


@pytest.mark.parametrize("delimiter", ["|", ",", ";", ">", "#"])
def test_delimiter_override_is_taken_literally(delimiter):
    # `|`, `>` and `#` mean something else to YAML and `,` does not parse; as values they are the text itself.
    assert load_config(None, [f"data.label_delimiter={delimiter}"]).data.label_delimiter == delimiter


@pytest.mark.parametrize(("value", "expected"), [("null", None), ("~", None), ("", None), ("3", 3)])
def test_override_null_spellings(value, expected):
    assert load_config(None, [f"train.max_steps={value}"]).train.max_steps == expected


@pytest.mark.parametrize(("value", "expected"), [("off", "off"), ("on", "on"), ("auto", "auto")])
def test_bf16_on_off_survive_yaml_booleans(tmp_path, value, expected):
    # YAML 1.1 reads bare on/off as booleans; the option's documented values must still work.
    assert load_config(None, [f"train.bf16={value}"]).train.bf16 == expected
    assert load_config(write_yaml(tmp_path, f"train:\n  bf16: {value}\n")).train.bf16 == expected


def test_option_help_lists_every_option_with_help():
    rows = option_help()
    names = [name for name, _, _, _ in rows]
    assert len(names) == len(set(names))
    config = RunConfig()
    sections = {name for name in RunConfig.__pydantic_fields__ if hasattr(getattr(config, name), "__pydantic_fields__")}
    expected = {f"{section}.{field}" for section in sections
                for field in getattr(config, section).__pydantic_fields__}
    expected |= set(RunConfig.__pydantic_fields__) - sections
    assert {"data.train", "train.learning_rate", "task", "method", "output_dir"} <= expected
    assert set(names) == expected
    for name, type_name, _, help_text in rows:
        assert help_text.strip(), f"{name} has no help text"
        assert type_name, f"{name} has no type"
    by_name = {name: (type_name, default) for name, type_name, default, _ in rows}
    assert by_name["train.batch_size"] == ("int", 32)
    assert by_name["data.max_seq_len"] == ("int", 128)
    assert by_name["lora.target_modules"][1] is None


def test_config_dict_round_trip(tmp_path):
    config = load_config(None, ["data.train=x.csv", "data.multi_label=true", "data.label_delimiter=|",
                                "method=lora", "lora.target_modules=[query]", "train.warmup_steps=5",
                                "train.bf16=off", "eval.calibration_bins=10", "output_dir=runs/a"])
    raw = config_to_dict(config)
    assert raw["data"]["label_delimiter"] == "|"
    assert raw["lora"]["target_modules"] == ["query"]
    again = config_from_dict(raw)
    assert again == config
    assert config_to_dict(again) == raw
    assert config_to_dict(again) != config_to_dict(RunConfig())


def test_round_trip_through_yaml_file(tmp_path):
    import yaml

    config = load_config(None, ["data.train=a.tsv", "train.epochs=4", "train.learning_rate=2e-5"])
    path = write_yaml(tmp_path, yaml.safe_dump(config_to_dict(config)))
    assert load_config(path) == config


@pytest.mark.parametrize("override", ["data.encoding=klingon", "lora.r=0", "lora.dropout=1.5",
                                      "eval.calibration_bins=0", "train.min_steps=0"])
def test_option_values_are_checked_before_any_work(override):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert override.split("=")[0] in error.value.problem
