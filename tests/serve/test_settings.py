"""The serving YAML: defaults, validation naming the option, rule checks."""

from __future__ import annotations

import pytest

from tunekit.errors import ConfigError
from tunekit.serve.settings import load_serve_config, serve_config_from_dict


def test_defaults_without_a_file():
    config = load_serve_config(None)
    assert config.require_api_key and config.limits.max_batch_texts == 256 and config.monitoring.alerts == []


def test_a_yaml_file_with_an_alert_rule(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("batching:\n  max_wait_ms: 3\nmonitoring:\n  webhook_url: http://127.0.0.1:9000/hook\n"
                    "  alerts:\n    - {name: negative_wave, kind: label_share, label: negative, window: 500, "
                    "above: 0.6}\n")
    config = load_serve_config(path)
    assert config.batching.max_wait_ms == 3.0
    assert config.monitoring.alerts[0].label == "negative" and config.monitoring.alerts[0].window == 500


def test_compressed_is_off_by_default_and_read_from_yaml(tmp_path):
    assert load_serve_config(None).compressed is False
    path = tmp_path / "serve.yaml"
    path.write_text("compressed: true\n")
    assert load_serve_config(path).compressed is True


@pytest.mark.parametrize(("raw", "message"), [
    ({"limits": {"max_batch_text": 3}}, "limits.max_batch_text"),
    ({"limits": {"max_batch_texts": 0}}, "max_batch_texts"),
    ({"batching": {"max_wait_ms": -1}}, "max_wait_ms"),
    ({"monitoring": {"alerts": [{"name": "a", "kind": "label_share", "above": 0.5}]}}, "`label` is required"),
    ({"monitoring": {"alerts": [{"name": "a", "kind": "label_psi", "above": 0.5, "label": "x"}]}},
     "only to kind label_share"),
    ({"monitoring": {"alerts": [{"name": "a", "kind": "label_psi", "above": 1}] * 2}}, "distinct"),
    ({"monitoring": {"webhook_url": "ftp://x"}}, "webhook_url"),
    ({"compressed": "maybe"}, "`compressed`"),
])
def test_invalid_settings_name_the_option(raw, message):
    with pytest.raises(ConfigError, match=message):
        serve_config_from_dict(raw)


def test_a_missing_or_broken_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_serve_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("limits: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_serve_config(tmp_path / "bad.yaml")
