"""Where the connector finds the files it ships: the mapping files.

`mappings_dir()` is, in order: ``$IDESK_CONNECTOR_MAPPINGS_DIR``; the ``mappings/`` directory
next to the ``connector`` package (a source checkout or an editable install); the data-files copy a
regular install puts in ``<sys.prefix>/share/idesk-connector/mappings``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ENV_MAPPINGS_DIR = "IDESK_CONNECTOR_MAPPINGS_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The ``connector`` package's directory."""


def mappings_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory that bare mapping names (``idesk``, ``idesk6``) resolve in."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_MAPPINGS_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    checkout = _PACKAGE_DIR.parent / "mappings"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "idesk-connector" / "mappings"


def resolve_mapping(name_or_path: str | Path, environ: Mapping[str, str] | None = None) -> Path:
    """A mapping file: the path as given when it looks like one, else ``<dir>/<name>.toml``."""
    if not is_bare_name(name_or_path):
        return Path(str(name_or_path)).expanduser()
    return mappings_dir(environ) / f"{name_or_path}.toml"


def is_bare_name(name_or_path: str | Path) -> bool:
    """Whether `name_or_path` is a mapping's name (``idesk``), looked up in `mappings_dir()`."""
    text = str(name_or_path)
    return not (
        isinstance(name_or_path, Path) or "/" in text or os.sep in text or text.endswith(".toml")
    )


def shipped_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The mapping names `mappings_dir()` holds (its unit maps, ``units-*.toml``, left out)."""
    try:
        files = sorted(mappings_dir(environ).glob("*.toml"))
    except OSError:
        return []
    return [f.stem for f in files if f.is_file() and not f.stem.startswith("units-")]
