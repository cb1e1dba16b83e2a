"""Where settings come from: pydantic-settings sources, highest precedence first.

1. the environment, ``IDESK_CONNECTOR__SECTION__KEY`` (`EnvironmentSource`: pydantic-settings'
   ``env_prefix`` and ``env_nested_delimiter``; values are read as TOML, so lists are written
   ``'["a", "b"]'``; the secrets as written);
2. the secrets file (`SecretsFileSource`): ``$IDESK_CONNECTOR_SECRETS`` or ``source.secrets_file``,
   mode 0600, holding ``[source] password / token / client_secret`` and the named secrets of
   ``[secrets]`` only;
3. the config file (`ConfigFileSource`, a TOML source that refuses secrets);
4. the defaults of `connector.settings.Settings`.

Imported by `connector.settings.load_settings` only, so that importing the settings models (and
`--help`) does not pay for pydantic-settings. Each problem is noted with its origin, so a bad
value from an environment variable is reported as that variable, not as a key of the file.
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from connector.errors import ConfigError, Problem
from connector.settings import (
    ENV_PREFIX,
    ENV_SECRETS,
    SECRET_KEYS,
    SECRETS_SECTION,
    SOURCE_SECRET_KEYS,
    Settings,
    SourceSettings,
    source_env_name,
)
from connector.validation import Loc, dotted, problems_from

ENVIRONMENT = "environment"
"""The origin of a problem in an environment variable."""


@dataclass
class Load:
    """One loading of the settings: its inputs, and what the sources found on the way."""

    path: Path | None
    environ: Mapping[str, str]
    problems: list[tuple[str, Problem]] = field(default_factory=list)
    """(origin, problem): origin is `ENVIRONMENT` or "" (the config file, or the defaults)."""
    warnings: list[str] = field(default_factory=list)
    from_env: dict[str, Any] = field(default_factory=dict)

    def note(self, problem: Problem, origin: str = "") -> None:
        self.problems.append((origin, problem))

    def env_name(self, loc: Loc) -> str | None:
        """The environment variable that gave the value at `loc`, if one did."""
        section = self.from_env.get(str(loc[0])) if loc else None
        if section is None:
            return None
        if len(loc) > 1 and (not isinstance(section, dict) or str(loc[1]) not in section):
            return None
        wanted = (ENV_PREFIX + "__".join(str(p) for p in loc[:2])).lower()
        for name in self.environ:
            if name.lower() == wanted or (len(loc) == 1 and name.lower().startswith(wanted)):
                return name
        return None


_LOAD: ContextVar[Load] = ContextVar("settings_load")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file as UTF-8 text, a byte order mark allowed (Windows Notepad writes one);
    any other encoding is a ConfigError naming the file (it was an internal error, exit 70)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(what, f"cannot read: {exc.strerror}")], source=what) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(what, f"is not UTF-8 text (byte {exc.start}); save it as UTF-8")],
            source=what,
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(what, f"not valid TOML: {exc}")], source=what) from exc


NOT_A_FILE = "is a directory; give the secrets file's path"


def _world_readable(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def _toml_value(raw: str) -> Any:
    """``50`` → 50, ``'["a", "b"]'`` → a list, ``true`` → True; what is not TOML stays as is."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


class EnvironmentSource(EnvSettingsSource):
    """``IDESK_CONNECTOR__SECTION__KEY`` from the environment given to `load_settings`."""

    def __init__(self, settings_cls: type[BaseSettings], load: Load) -> None:
        self.load = load
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # A [[sources]] entry's secrets (IDESK_CONNECTOR__SOURCES__<NAME>__<KEY>) are applied to
        # their entry after validation (`_source_secrets`), not merged as a section.
        per_source = f"{ENV_PREFIX}SOURCES__".lower()
        environ = {
            k: v for k, v in self.load.environ.items() if not k.lower().startswith(per_source)
        }
        return parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        return _toml_value(value) if isinstance(value, str) else value

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for section, values in data.items():
            if not isinstance(values, dict):
                continue
            if section == SECRETS_SECTION:
                continue  # named secrets are taken as written
            for key, raw in values.items():
                if (section, key) not in SECRET_KEYS and isinstance(raw, str):
                    values[key] = _toml_value(raw)
        # A variable naming no section at all is an unknown key, as it is in the file.
        prefix = self.env_prefix.lower()
        for name, raw in self.env_vars.items():
            section, _, key = name.lower().removeprefix(prefix).partition("__")
            if (
                name.lower().startswith(prefix)
                and key
                and section not in self.settings_cls.model_fields
            ):
                data.setdefault(section, {})[key] = raw
        self.load.from_env = data
        return data


class ConfigFileSource(TomlConfigSettingsSource):
    """The config file: TOML, read once; a secret in it is refused (it belongs in the
    environment or in the secrets file), a file others can read gets a warning."""

    def __init__(self, settings_cls: type[BaseSettings], load: Load) -> None:
        self.load = load
        super().__init__(settings_cls, toml_file=load.path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        path = Path(file_path)
        data = _read_toml(path, str(path))
        if _world_readable(path):
            self.load.warnings.append(
                f"config file {path} is readable by other users; consider: chmod 600 {path}"
            )
        for section, key in sorted(SECRET_KEYS):
            values = data.get(section)
            if isinstance(values, dict) and key in values:
                env_name = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
                self.load.note(
                    Problem(
                        f"{section}.{key}",
                        f"secrets are refused in the config file; remove it and set {env_name} "
                        "or put it in a secrets file (mode 0600) named by source.secrets_file",
                    )
                )
                del values[key]
        sources = data.get("sources")
        if isinstance(sources, list):
            # `sources = []` (config.example.toml) is the one-[source] layout, not both
            if sources and "source" in data:
                self.load.note(
                    Problem(
                        "sources",
                        "use either one [source] table or several [[sources]] tables, not both "
                        "(move the [source] keys into a [[sources]] entry)",
                    )
                )
            for index, entry in enumerate(sources):
                for key in SOURCE_SECRET_KEYS:
                    if isinstance(entry, dict) and key in entry:
                        name = str(entry.get("name", "NAME"))
                        self.load.note(
                            Problem(
                                f"sources[{index}].{key}",
                                "secrets are refused in the config file; remove it and set "
                                f"{source_env_name(name, key)} or put it under [source] in a "
                                "secrets file (mode 0600) named by this entry's secrets_file",
                            )
                        )
                        del entry[key]
        if SECRETS_SECTION in data:
            self.load.note(
                Problem(
                    f"[{SECRETS_SECTION}]",
                    "secrets are refused in the config file; move the table to the secrets file "
                    f"(mode 0600) or set {ENV_PREFIX}{SECRETS_SECTION.upper()}__<NAME>",
                )
            )
            del data[SECRETS_SECTION]
        return data


class SecretsFileSource(PydanticBaseSettingsSource):
    """``[source] password / token / client_secret`` and ``[secrets]`` from a 0600 TOML file
    named by ``$IDESK_CONNECTOR_SECRETS``, else by ``source.secrets_file`` (from the environment,
    else from the config file)."""

    def __init__(
        self, settings_cls: type[BaseSettings], load: Load, config: ConfigFileSource
    ) -> None:
        super().__init__(settings_cls)
        self.load, self.config_file = load, config

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the file is read whole in __call__

    def _named(self) -> str:
        for data in (self.load.from_env, self.config_file.toml_data):
            source = data.get("source")
            if isinstance(source, dict) and source.get("secrets_file"):
                return str(source["secrets_file"])
        return ""

    def __call__(self) -> dict[str, Any]:
        named = self.load.environ.get(ENV_SECRETS) or self._named()
        if not named:
            return {}
        path = Path(named)
        where = f"secrets file {path}"
        if not path.exists():
            self.load.note(Problem(where, "does not exist"))
            return {}
        if path.is_dir():
            self.load.note(Problem(where, NOT_A_FILE))
            return {}
        if _world_readable(path):
            mode = stat.S_IMODE(path.stat().st_mode)
            self.load.note(
                Problem(where, f"mode {mode:04o} lets others read it; run: chmod 600 {path}")
            )
            return {}
        data = _read_toml(path, where)
        out: dict[str, Any] = {}
        for section in sorted({s for s, _ in SECRET_KEYS}):
            values = data.get(section, {})
            if not isinstance(values, dict):
                continue
            allowed = {key for s, key in SECRET_KEYS if s == section}
            for key in sorted(set(values) - allowed):
                only = "/".join(sorted(allowed))
                self.load.note(Problem(f"{where}: {section}.{key}", f"only {only}"))
            found = {k: v for k, v in values.items() if k in allowed}
            if found:
                out[section] = found
        table = data.get(SECRETS_SECTION)
        if isinstance(table, dict):
            out[SECRETS_SECTION] = table
        return out


class SettingsFromSources(BaseSettings, Settings):
    """`Settings` read from the sources above (for the duration of one `read_settings`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_nested_max_split=1,
        frozen=True,
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        load = _LOAD.get()
        config = ConfigFileSource(settings_cls, load)
        return (
            EnvironmentSource(settings_cls, load),
            SecretsFileSource(settings_cls, load, config),
            config,
        )


def _unknown(loc: Loc) -> str:
    return "unknown key (see config.example.toml for the valid keys)"


def _source_secrets(src: SourceSettings, index: int, load: Load) -> SourceSettings:
    """One ``[[sources]]`` entry with its secrets: ``IDESK_CONNECTOR__SOURCES__<NAME>__<KEY>``
    from the environment, else ``[source]`` of the entry's own ``secrets_file`` (mode 0600,
    the same file format as the one source's)."""
    found: dict[str, str] = {}
    if src.secrets_file:
        path = Path(src.secrets_file)
        where = f"sources[{index}].secrets_file {path}"
        if not path.exists():
            load.note(Problem(where, "does not exist"))
        elif path.is_dir():
            load.note(Problem(where, NOT_A_FILE))
        elif _world_readable(path):
            mode = stat.S_IMODE(path.stat().st_mode)
            load.note(Problem(where, f"mode {mode:04o} lets others read it; run: chmod 600 {path}"))
        else:
            table = _read_toml(path, where).get("source", {})
            if isinstance(table, dict):
                for key in sorted(set(table) - set(SOURCE_SECRET_KEYS)):
                    only = "/".join(SOURCE_SECRET_KEYS)
                    load.note(Problem(f"{where}: source.{key}", f"only {only}"))
                found.update({k: str(v) for k, v in table.items() if k in SOURCE_SECRET_KEYS})
    wanted = {source_env_name(src.name, key).lower(): key for key in SOURCE_SECRET_KEYS}
    for name, value in load.environ.items():
        if name.lower() in wanted:
            found[wanted[name.lower()]] = value
    if not found:
        return src
    return src.model_copy(update={k: SecretStr(v) for k, v in found.items()})


def read_settings(
    path: Path | None, environ: Mapping[str, str], *, lenient: bool = False
) -> tuple[Settings | None, Load]:
    """Read and validate; the settings (None when invalid) and what the sources noted
    (`lenient`: the ``[[sources]]`` secrets are not read)."""
    load = Load(path, environ)
    token = _LOAD.set(load)
    try:
        built = SettingsFromSources()
    except ValidationError as exc:
        for err_loc, problem in zip(
            (tuple(e["loc"]) for e in exc.errors()),
            problems_from(exc, unknown=_unknown),
            strict=True,
        ):
            env_name = load.env_name(err_loc)
            if env_name is None:
                load.note(problem)
            else:
                where = f"{env_name} ({dotted(err_loc)})"
                load.note(Problem(where, problem.message), ENVIRONMENT)
        return None, load
    finally:
        _LOAD.reset(token)
    values = {name: getattr(built, name) for name in Settings.model_fields}
    if not lenient:
        values["sources"] = tuple(
            _source_secrets(src, index, load) for index, src in enumerate(built.sources)
        )
    return Settings.model_construct(built.model_fields_set, **values), load
