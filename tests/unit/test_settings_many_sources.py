"""Several document systems in one config: ``[[sources]]`` names, secrets and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.settings import load_settings, load_settings_lenient, source_env_name

TWO = """
[[sources]]
name = "gia-lai"
base_url = "http://127.0.0.1:9001/ubnd"
page_size = 50
[[sources]]
name = "binh_dinh"
base_url = "http://127.0.0.1:9002/ubnd"
auth = "token"
weight = 5
"""
ENV = {
    "IDESK_CONNECTOR__SOURCES__GIA_LAI__PASSWORD": "pw-gl",
    "IDESK_CONNECTOR__SOURCES__BINH_DINH__TOKEN": "tk-bd",
}


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_several_sources_load_with_their_own_settings_and_secrets(tmp_path: Path) -> None:
    """Each [[sources]] entry keeps its keys and gets its secrets from its own variables."""
    s = load_settings(write(tmp_path / "c.toml", TWO), ENV).settings
    by_name = {src.name: src for src in s.all_sources}
    assert by_name["gia-lai"].page_size == 50
    assert by_name["gia-lai"].password is not None
    assert by_name["gia-lai"].password.get_secret_value() == "pw-gl"
    assert by_name["binh_dinh"].token is not None
    assert by_name["binh_dinh"].token.get_secret_value() == "tk-bd"
    assert by_name["binh_dinh"].password is None
    assert {"pw-gl", "tk-bd"} <= set(s.secret_values())


def test_heavier_sources_run_first(tmp_path: Path) -> None:
    """all_sources orders by weight, heaviest first, ties in file order."""
    s = load_settings(write(tmp_path / "c.toml", TWO), ENV).settings
    assert [src.name for src in s.all_sources] == ["binh_dinh", "gia-lai"]


def test_one_source_config_keeps_its_single_source(tmp_path: Path) -> None:
    """Today's [source] is the only source, named by source.name (default "idesk")."""
    env = {"IDESK_CONNECTOR__SOURCE__PASSWORD": "pw"}
    s = load_settings(write(tmp_path / "c.toml", "[source]\npage_size = 7\n"), env).settings
    assert [(src.name, src.page_size) for src in s.all_sources] == [("idesk", 7)]
    assert s.for_source("idesk") == s


def test_for_source_swaps_the_source_and_rejects_unknown_names(tmp_path: Path) -> None:
    """for_source gives settings whose source is the named entry; an unknown name lists the known."""
    s = load_settings(write(tmp_path / "c.toml", TWO), ENV).settings
    assert s.for_source("gia-lai").source.base_url == "http://127.0.0.1:9001/ubnd"
    with pytest.raises(ConfigError) as info:
        s.for_source("kon-tum")
    assert "kon-tum" in str(info.value) and "gia-lai" in str(info.value)


def test_missing_credentials_name_the_entry_and_its_variable(tmp_path: Path) -> None:
    """A [[sources]] entry without its credential names its key and its environment variable."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "c.toml", TWO), {})
    text = str(info.value)
    assert "sources[0].password" in text and "IDESK_CONNECTOR__SOURCES__GIA_LAI__PASSWORD" in text
    assert "sources[1].token" in text and "IDESK_CONNECTOR__SOURCES__BINH_DINH__TOKEN" in text


def test_lenient_load_needs_no_source_credentials(tmp_path: Path) -> None:
    """Commands that never reach a source load a [[sources]] config without its secrets."""
    s = load_settings_lenient(write(tmp_path / "c.toml", TWO), {}).settings
    assert len(s.sources) == 2


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("a", "a"), "used by sources[0] too"),
        (("gia-lai", "gia_lai"), "used by sources[0] too"),
        (("Gia Lai", "b"), "is not a source name"),
        (("../x", "b"), "is not a source name"),
        (("", "b"), "is not a source name"),
    ],
)
def test_bad_or_duplicate_names_are_refused(
    tmp_path: Path, names: tuple[str, str], message: str
) -> None:
    """Source names are safe (lower-case, digits, _ -) and unique, even as variable names."""
    text = "".join(f'[[sources]]\nname = "{n}"\nauth = "headers"\n' for n in names)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "c.toml", text), {})
    assert message in str(info.value)
    assert "sources[" in str(info.value)


def test_an_entry_without_a_name_is_refused(tmp_path: Path) -> None:
    """Every [[sources]] entry must name itself (no silent default name)."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "c.toml", '[[sources]]\nauth = "headers"\n'), {})
    assert "sources[0].name" in str(info.value)


def test_source_and_sources_together_are_refused(tmp_path: Path) -> None:
    """A file with both [source] and [[sources]] is refused with a clear message."""
    text = '[source]\nauth = "headers"\n[[sources]]\nname = "a"\nauth = "headers"\n'
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "c.toml", text), {})
    assert "not both" in str(info.value)


def test_secret_in_a_sources_entry_is_refused(tmp_path: Path) -> None:
    """A password inside [[sources]] in the config file is refused, naming its variable."""
    text = '[[sources]]\nname = "a"\npassword = "sekrit-value"\n'
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "c.toml", text), {})
    assert "sources[0].password" in str(info.value)
    assert "IDESK_CONNECTOR__SOURCES__A__PASSWORD" in str(info.value)
    assert "sekrit-value" not in str(info.value)


def test_an_entry_reads_its_own_secrets_file(tmp_path: Path) -> None:
    """An entry's secrets_file holds [source] password like the one source's secrets file."""
    secrets = write(tmp_path / "s.toml", '[source]\npassword = "from-file"\n')
    cfg = write(tmp_path / "c.toml", f'[[sources]]\nname = "a"\nsecrets_file = "{secrets}"\n')
    src = load_settings(cfg, {}).settings.sources[0]
    assert src.password is not None
    assert src.password.get_secret_value() == "from-file"
    env = {source_env_name("a", "password"): "from-env"}
    src = load_settings(cfg, env).settings.sources[0]
    assert src.password is not None
    assert src.password.get_secret_value() == "from-env"


def test_an_entry_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A world-readable per-source secrets file is refused, naming the entry."""
    secrets = write(tmp_path / "s.toml", '[source]\npassword = "x"\n', mode=0o644)
    cfg = write(tmp_path / "c.toml", f'[[sources]]\nname = "a"\nsecrets_file = "{secrets}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, {})
    assert "sources[0].secrets_file" in str(info.value) and "chmod 600" in str(info.value)
