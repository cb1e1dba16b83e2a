"""What the tests share: factories, the contract oracle, the loopback servers, the PostgreSQL
cluster, the end-to-end harness and the data files (tests/README.md says which is which)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root (README.md, mappings/, config.example.toml)."""

DATA = Path(__file__).resolve().parent / "data"
"""Data files of the tests: the dialect-b mapping, the phrase corpus."""
