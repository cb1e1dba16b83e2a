"""Settings: file, environment overrides, secrets, and problems reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.settings import load_settings, load_settings_lenient

PW = {"IDESK_CONNECTOR__SOURCE__PASSWORD": "pw-123"}


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no config file at all, every setting has its documented default."""
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(environ=PW)
    assert loaded.config_path is None
    assert loaded.settings.sync.lookback_seconds == 120
    assert loaded.settings.source.page_size == 200
    assert loaded.settings.ledger.url == "sqlite:///ledger.db"


def test_env_overrides_file(tmp_path: Path) -> None:
    """IDESK_CONNECTOR__SECTION__KEY beats the file, which beats the default."""
    cfg = write(tmp_path / "c.toml", "[sync]\nlookback_seconds = 60\n[source]\npage_size = 100\n")
    env = {**PW, "IDESK_CONNECTOR__SYNC__LOOKBACK_SECONDS": "30"}
    s = load_settings(cfg, env).settings
    assert s.sync.lookback_seconds == 30
    assert s.source.page_size == 100


def test_config_path_from_environment(tmp_path: Path) -> None:
    """IDESK_CONNECTOR_CONFIG names the file when --config is not given."""
    cfg = write(tmp_path / "c.toml", "[report]\nlang = 'en'\n")
    loaded = load_settings(None, {**PW, "IDESK_CONNECTOR_CONFIG": str(cfg)})
    assert loaded.config_path == cfg
    assert loaded.settings.report.lang == "en"


def test_every_problem_reported_together(tmp_path: Path) -> None:
    """All invalid keys are listed in one error, each by its dotted key."""
    cfg = write(
        tmp_path / "c.toml",
        "[source]\npage_size = 9000\nauth = 'kerberos'\n[sync]\nlookbak = 3\n[nosuch]\nx = 1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, PW)
    wheres = {p.where for p in info.value.problems}
    assert {"source.page_size", "source.auth", "sync.lookbak", "nosuch"} <= wheres
    assert "4 problem(s)" in str(info.value) or len(info.value.problems) >= 4


@pytest.mark.parametrize("key", ["password", "token"])
def test_secret_in_config_file_is_refused(tmp_path: Path, key: str) -> None:
    """A password or token in the shared config file is refused, saying where it belongs."""
    cfg = write(tmp_path / "c.toml", f"[source]\n{key} = 'sekrit-value'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, PW)
    text = str(info.value)
    assert f"source.{key}" in text
    assert f"IDESK_CONNECTOR__SOURCE__{key.upper()}" in text
    assert "sekrit-value" not in text


def test_secrets_file_with_mode_0600_is_used(tmp_path: Path) -> None:
    """A 0600 secrets file supplies the password."""
    secrets = write(tmp_path / "s.toml", "[source]\npassword = 'from-file'\n")
    cfg = write(tmp_path / "c.toml", f"[source]\nsecrets_file = '{secrets}'\n")
    s = load_settings(cfg, {}).settings
    assert s.source.password is not None
    assert s.source.password.get_secret_value() == "from-file"


def test_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A secrets file that others can read is refused with the chmod to run."""
    secrets = write(tmp_path / "s.toml", "[source]\npassword = 'from-file'\n", mode=0o644)
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"IDESK_CONNECTOR_SECRETS": str(secrets)})
    assert "chmod 600" in str(info.value)
    assert "from-file" not in str(info.value)


def test_world_readable_config_gets_a_warning(tmp_path: Path) -> None:
    """A config file readable by other users loads, with a warning."""
    cfg = write(tmp_path / "c.toml", "[log]\nlevel = 'debug'\n", mode=0o644)
    loaded = load_settings(cfg, PW)
    assert any("readable by other users" in w for w in loaded.warnings)


def test_missing_password_for_session_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Session auth without a password names the variable to set."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings(None, {})
    assert "IDESK_CONNECTOR__SOURCE__PASSWORD" in str(info.value)


def test_lenient_load_needs_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that never reach the source load without credentials."""
    monkeypatch.chdir(tmp_path)
    assert load_settings_lenient(None, {}).settings.report.lang == "vi"


def test_settings_are_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings cannot be changed after start-up."""
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, PW).settings
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen models
        s.sync.lookback_seconds = 1  # type: ignore[misc]


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    """An explicitly named config file that does not exist is an error naming it."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", PW)


def test_env_list_values_parse_as_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """List-valued keys can be overridden from the environment in TOML syntax."""
    monkeypatch.chdir(tmp_path)
    env = {**PW, "IDESK_CONNECTOR__REPORT__UNIT_ORDER": '["district", "department"]'}
    assert load_settings(None, env).settings.report.unit_order == ("district", "department")


def test_bad_environment_value_is_reported_as_its_variable(tmp_path: Path) -> None:
    """A bad value from the environment names the variable and the environment, not the file."""
    cfg = write(tmp_path / "c.toml", "[sync]\nlookback_seconds = 60\n")
    env = {**PW, "IDESK_CONNECTOR__SYNC__LOOKBACK_SECONDS": "soon"}
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env)
    wheres = [p.where for p in info.value.problems]
    assert wheres == ["IDESK_CONNECTOR__SYNC__LOOKBACK_SECONDS (sync.lookback_seconds)"]
    assert info.value.source == "the environment"
    assert str(cfg) not in str(info.value)


def test_problems_from_file_and_environment_name_both(tmp_path: Path) -> None:
    """Problems in the file keep their dotted key; those from the environment name the variable."""
    cfg = write(tmp_path / "c.toml", "[source]\npage_size = 9000\n")
    env = {**PW, "IDESK_CONNECTOR__REPORT__DENOMINATOR": "most"}
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env)
    wheres = {p.where for p in info.value.problems}
    assert wheres == {
        "source.page_size",
        "IDESK_CONNECTOR__REPORT__DENOMINATOR (report.denominator)",
    }
    assert info.value.source == f"{cfg} and the environment"


def test_environment_beats_the_secrets_file(tmp_path: Path) -> None:
    """The password from the environment wins over the secrets file's."""
    secrets = write(tmp_path / "s.toml", "[source]\npassword = 'from-file'\n")
    env = {"IDESK_CONNECTOR_SECRETS": str(secrets), "IDESK_CONNECTOR__SOURCE__PASSWORD": "env"}
    s = load_settings(None, env).settings
    assert s.source.password is not None
    assert s.source.password.get_secret_value() == "env"


def test_client_secret_and_named_secrets_refused_in_config_file(tmp_path: Path) -> None:
    """source.client_secret and a [secrets] table in the shared config file are refused."""
    cfg = write(
        tmp_path / "c.toml",
        "[source]\nclient_secret = 'cs-value'\n[secrets]\napi_key = 'ak-value'\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, PW)
    text = str(info.value)
    assert "source.client_secret" in text and "secrets" in text
    assert "cs-value" not in text and "ak-value" not in text


def test_named_secrets_from_the_secrets_file_and_environment(tmp_path: Path) -> None:
    """[secrets] in a 0600 secrets file and IDESK_CONNECTOR__SECRETS__NAME both give named
    secrets, and every one is in secret_values() (redacted from logs)."""
    secrets = write(tmp_path / "s.toml", "[secrets]\napi_key = 'from-file'\n")
    env = {**PW, "IDESK_CONNECTOR_SECRETS": str(secrets), "IDESK_CONNECTOR__SECRETS__OTHER": "e"}
    s = load_settings(None, env).settings
    assert s.secrets["api_key"].get_secret_value() == "from-file"
    assert {"from-file", "e"} <= set(s.secret_values())


def test_oauth2_without_client_secret_names_the_variable(tmp_path: Path) -> None:
    """auth = 'oauth2' with no client secret is refused, naming where to give it."""
    cfg = write(tmp_path / "c.toml", "[source]\nauth = 'oauth2'\ntoken_url = '/oauth2/token'\n")
    with pytest.raises(ConfigError, match="IDESK_CONNECTOR__SOURCE__CLIENT_SECRET"):
        load_settings(cfg, {})


@pytest.mark.parametrize(
    ("url", "said"),
    [
        pytest.param("http://vpdt.example.gov.vn/ubnd", "plain http:// to vpdt", id="plain-http"),
        pytest.param("http://localhost.example.com/x", "plain http://", id="lookalike"),
        pytest.param("https://clerk:pw@vpdt.example.gov.vn/x", "user name or password", id="user"),
    ],
)
def test_insecure_base_url_refused_when_settings_load(tmp_path: Path, url: str, said: str) -> None:
    """An http:// base URL off loopback (or one with credentials) is refused as the settings
    load, for every command, before a ledger or a socket is opened; from the environment it
    names the variable."""
    cfg = write(tmp_path / "c.toml", f'[source]\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings_lenient(cfg, {})
    [problem] = info.value.problems
    assert problem.where == "source.base_url" and said in problem.message
    with pytest.raises(ConfigError) as from_env:
        load_settings(None, {**PW, "IDESK_CONNECTOR__SOURCE__BASE_URL": url})
    assert from_env.value.source == "the environment"
    assert from_env.value.problems[0].where.startswith("IDESK_CONNECTOR__SOURCE__BASE_URL")


def test_loopback_http_base_url_is_accepted(tmp_path: Path) -> None:
    """http:// stays allowed on loopback (the simulator, the tests)."""
    cfg = write(tmp_path / "c.toml", '[source]\nbase_url = "http://[::1]:9/x/"\n')
    assert load_settings(cfg, PW).settings.source.base_url == "http://[::1]:9/x"


@pytest.mark.parametrize(
    ("section", "key"), [("email", "password"), ("webhook", "secret")]
)  # fmt: skip
def test_channel_secrets_in_the_config_file_are_refused(
    tmp_path: Path, section: str, key: str
) -> None:
    """The SMTP password and the webhook secret are refused in the config file, naming the
    variable that gives them."""
    cfg = write(tmp_path / "c.toml", f"[{section}]\n{key} = 'sekrit-value'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, PW)
    text = str(info.value)
    assert f"{section}.{key}" in text
    assert f"IDESK_CONNECTOR__{section.upper()}__{key.upper()}" in text
    assert "sekrit-value" not in text


def test_channel_secrets_from_the_environment_or_the_secrets_file(tmp_path: Path) -> None:
    """The SMTP login's password comes from the environment, the webhook secret from the 0600
    secrets file; a channel's settings are checked together when it is chosen."""
    secrets = write(tmp_path / "s.toml", "[webhook]\nsecret = 'hook-from-file'\n")
    book = write(tmp_path / "units.csv", "STTTT,vanthu@stttt.example\n")
    cfg = write(
        tmp_path / "c.toml",
        "[delivery]\nchannels = ['email', 'webhook']\n"
        "[email]\nhost = 'mail.example'\nusername = 'tct'\nfrom_address = 'tct@example.org'\n"
        f"address_book = '{book}'\n"
        "[webhook]\nurl = 'https://gw.example/hook'\n",
    )
    env = {**PW, "IDESK_CONNECTOR_SECRETS": str(secrets)}
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env)
    assert {p.where for p in info.value.problems} == {"email.password"}
    assert "IDESK_CONNECTOR__EMAIL__PASSWORD" in str(info.value)
    s = load_settings(cfg, {**env, "IDESK_CONNECTOR__EMAIL__PASSWORD": "mail-pw"}).settings
    assert s.email.password is not None and s.email.password.get_secret_value() == "mail-pw"
    assert s.webhook.secret is not None
    assert s.webhook.secret.get_secret_value() == "hook-from-file"
