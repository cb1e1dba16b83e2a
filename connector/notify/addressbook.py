"""The units' address book: unit code → the e-mail addresses its digest is sent to.

Read from ``email.address_book`` (a ``.toml`` or ``.csv`` file) or from the standard output of
``email.address_book_command`` (either format), and validated as a whole: every bad line or
address is reported together, with where it is (`ConfigError`, exit 2).

TOML::

    [units]
    STTTT = ["vanthu@stttt.binhdinh.gov.vn", "Giám đốc Sở <giamdoc@stttt.binhdinh.gov.vn>"]
    VPUBND = ["vanthu@vpubnd.binhdinh.gov.vn"]

CSV (a header line ``unit,address`` is optional; several lines per unit, or several addresses
in one cell separated by ``;``; a line starting with ``#`` is a comment)::

    unit,address
    STTTT,vanthu@stttt.binhdinh.gov.vn
    STTTT,Giám đốc Sở <giamdoc@stttt.binhdinh.gov.vn>

An address is ``local@domain`` in ASCII (an internationalised domain in its ``xn--`` form),
optionally with a display name (``Name <local@domain>``, any language).
"""

from __future__ import annotations

import csv
import io
import re
import shlex
import subprocess
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from connector.errors import ConfigError, Problem

if TYPE_CHECKING:
    from connector.settings import EmailSettings

COMMAND_TIMEOUT_S = 60.0
"""How long ``email.address_book_command`` may take."""

MAX_BOOK_BYTES = 8 * 1024 * 1024
"""Largest address book read (a province has a few hundred units)."""

_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$"
)


@dataclass(frozen=True)
class Mailbox:
    """One recipient: the address, and the display name ("" for none)."""

    address: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class AddressBook:
    """Unit code → its recipients, in the order given; `source` says where it came from."""

    units: Mapping[str, tuple[Mailbox, ...]] = field(default_factory=dict)
    source: str = ""

    def addresses(self, unit_code: str) -> tuple[Mailbox, ...]:
        """The recipients of `unit_code` (empty when the book does not list it)."""
        return self.units.get(unit_code, ())

    def unknown_units(self, known: Iterable[str]) -> list[str]:
        """Codes of the book that are not among `known` (typos, units that no longer exist)."""
        wanted = set(known)
        return sorted(code for code in self.units if code not in wanted)

    def missing_units(self, known: Iterable[str]) -> list[str]:
        """Codes among `known` that the book gives no address for."""
        return sorted(code for code in set(known) if not self.units.get(code))


def parse_mailbox(text: str) -> Mailbox | None:
    """``addr`` or ``Name <addr>`` as a `Mailbox`; None when it is not a valid address."""
    text = unicodedata.normalize("NFC", text.strip())
    if not text or "\n" in text or "\r" in text:
        return None
    name, address = parseaddr(text)
    if not address or not _ADDRESS.match(address) or len(address) > 254:
        return None
    if ".." in address or address.split("@", 1)[0].startswith("."):
        return None
    return Mailbox(address, name.strip())


class _Collector:
    """Gathers the entries of a book and its problems, each with where it is."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.units: dict[str, list[Mailbox]] = {}
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(f"{self.source}: {where}", message))

    def add(self, code: str, raw: object, where: str) -> None:
        code = unicodedata.normalize("NFC", code.strip())
        if not code:
            self.problem(where, "no unit code")
            return
        if not isinstance(raw, str):
            self.problem(where, f"an address must be a text, not {type(raw).__name__}")
            return
        for part in (p for p in raw.split(";") if p.strip()):
            mailbox = parse_mailbox(part)
            if mailbox is None:
                self.problem(where, f"{part.strip()[:120]!r} is not an e-mail address")
                continue
            listed = self.units.setdefault(code, [])
            if all(m.address.lower() != mailbox.address.lower() for m in listed):
                listed.append(mailbox)

    def book(self) -> AddressBook:
        if self.problems:
            raise ConfigError(self.problems, source=self.source)
        return AddressBook({k: tuple(v) for k, v in self.units.items()}, self.source)


def parse_toml_book(text: str, source: str) -> AddressBook:
    """A TOML address book (``[units] CODE = ["address", ...]``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(source, f"not valid TOML: {exc}")], source=source) from exc
    found = _Collector(source)
    units = data.get("units")
    if not isinstance(units, dict):
        found.problem("units", 'missing: the book lists [units] CODE = ["address", ...]')
        return found.book()
    for code, value in units.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            found.problem(f"units.{code}", "no address")
        for item in values:
            found.add(code, item, f"units.{code}")
    return found.book()


def parse_csv_book(text: str, source: str) -> AddressBook:
    """A CSV address book (``unit,address`` lines; see the module docstring)."""
    found = _Collector(source)
    for number, raw in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in raw]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and len(cells) >= 2 and "@" not in cells[1]:
            continue  # a header line
        if len(cells) < 2 or not cells[1]:
            found.problem(f"line {number}", "expected: unit code, address")
            continue
        for extra in cells[2:]:
            if extra:
                found.problem(f"line {number}", "more than two columns (use ';' between addresses)")
                break
        else:
            found.add(cells[0], cells[1], f"line {number}")
    return found.book()


def parse_book(text: str, source: str, *, kind: str = "") -> AddressBook:
    """A book in `kind` ("toml" or "csv"); with no kind, TOML when it has a ``[units]`` table."""
    if kind == "toml":
        return parse_toml_book(text, source)
    if kind == "csv":
        return parse_csv_book(text, source)
    try:
        if isinstance(tomllib.loads(text).get("units"), dict):
            return parse_toml_book(text, source)
    except tomllib.TOMLDecodeError:
        pass
    return parse_csv_book(text, source)


def _read_file(path: Path) -> str:
    where = f"email.address_book {path}"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BOOK_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem(where, f"cannot read: {exc.strerror}")], source=where) from exc
    if len(data) > MAX_BOOK_BYTES:
        raise ConfigError([Problem(where, f"larger than {MAX_BOOK_BYTES} bytes")], source=where)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(where, "not UTF-8 text")], source=where) from exc


def _run_command(command: str) -> str:
    where = "email.address_book_command"
    try:
        done = subprocess.run(  # the operator's own command, no shell
            shlex.split(command),
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, ValueError) as exc:
        raise ConfigError([Problem(where, f"cannot run it: {exc}")], source=where) from exc
    except subprocess.TimeoutExpired as exc:
        message = f"did not finish within {COMMAND_TIMEOUT_S:.0f} s"
        raise ConfigError([Problem(where, message)], source=where) from exc
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        tail = f": {err[-1][:200]}" if err else ""
        message = f"exited with status {done.returncode}{tail}"
        raise ConfigError([Problem(where, message)], source=where)
    if len(done.stdout) > MAX_BOOK_BYTES:
        raise ConfigError([Problem(where, f"printed more than {MAX_BOOK_BYTES} bytes")])
    try:
        return done.stdout.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(where, "did not print UTF-8 text")], source=where) from exc


def load_address_book(settings: EmailSettings) -> AddressBook:
    """The book ``email.address_book`` or ``email.address_book_command`` gives, validated."""
    if settings.address_book_command:
        text = _run_command(settings.address_book_command)
        return parse_book(text, "email.address_book_command")
    if not settings.address_book:
        raise ConfigError(
            [Problem("email.address_book", "set a TOML or CSV file, or address_book_command")]
        )
    path = Path(settings.address_book)
    suffix = path.suffix.lower()
    kind = "toml" if suffix == ".toml" else "csv" if suffix == ".csv" else ""
    return parse_book(_read_file(path), str(path), kind=kind)
