"""config.example.toml documents every key with its default."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from connector.settings import Settings, load_settings
from tests.support import ROOT


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _keys(ann, f"{prefix}{name}.")
        else:
            out.add(f"{prefix}{name}")
    return out


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in {
            "recipients",
            "extra_recipients",
            "by_type",
            "auth_headers",
            "auth_query",
        }:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_example_documents_every_key_with_its_default() -> None:
    """Each settings key appears in the example with exactly its default value."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    example = _flatten(tomllib.loads(text))
    secrets = {
        "source.password",
        "source.token",
        "source.client_secret",
        "email.password",
        "webhook.secret",
    }
    # [secrets] (named secrets) is refused in a config file: the example cannot show it
    expected = _keys(Settings) - secrets - {"secrets"}
    assert expected - set(example) == set(), "keys missing from config.example.toml"
    assert set(example) - expected == set(), "unknown keys in config.example.toml"
    defaults = _flatten(Settings().model_dump(mode="json"))
    for key in expected:
        want = defaults[key]
        got = example[key]
        if isinstance(want, list):
            got = list(got) if not isinstance(got, dict) else got
        if key == "alerts.recipients":
            got = {k: list(v) for k, v in got.items()}
        assert got == want, f"{key}: example {got!r} != default {want!r}"
    for secret in secrets:
        assert f"\n{secret.split('.')[1]} =" not in text


def test_example_copied_as_is_is_a_valid_config(tmp_path: Path) -> None:
    """`cp config.example.toml config.toml` (the README's first step) loads: its empty
    `sources = []` beside `[source]` is the one-source layout, not both layouts at once."""
    config = tmp_path / "config.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8"), "utf-8")
    config.chmod(0o600)
    loaded = load_settings(config, {"IDESK_CONNECTOR__SOURCE__PASSWORD": "pw"})
    assert loaded.settings.sources == ()
    assert [src.name for src in loaded.settings.all_sources] == ["idesk"]


def test_empty_sources_beside_source_is_one_source(tmp_path: Path) -> None:
    """`sources = []` with a [source] table is one source; only entries in both are refused."""
    config = tmp_path / "c.toml"
    config.write_text('sources = []\n[source]\nauth = "headers"\nname = "one"\n', "utf-8")
    config.chmod(0o600)
    loaded = load_settings(config, {})
    assert [src.name for src in loaded.settings.all_sources] == ["one"]
