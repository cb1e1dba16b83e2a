"""Value converters, looked up by name from a mapping file, and the formatters of request values.

A converter turns one raw source value into one typed ledger value, or raises `ConversionError`
with a short reason a clerk can read ("is not a valid en-US date (like 'Apr 13, 2022, 12:00:00
AM')"). Converters are pure; each declares the `kind` of value it gives (so a mapping that puts a
text converter on a date field is refused at start-up) and the options it accepts with their
defaults (so an unknown option is refused with the list of valid ones).

Formatters do the reverse for the one value the connector sends: the modified-from cursor.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.clock import LOCAL_TZ, local_date, local_midnight, to_utc
from connector.models import DeadlineChange, TaskState, UnitRef

Kind = Literal["text", "int", "flag", "instant", "date", "units", "deadline_changes", "state"]
"""What a converter gives; each ledger field needs one kind."""

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name.lower(): number for number, name in enumerate(MONTHS, start=1)}
EN_US_EXAMPLE = "Apr 13, 2022, 12:00:00 AM"
NO_DEADLINE = "Feb 1, 2200, 12:00:01 AM"

# `Apr 13, 2022, 12:00:00 AM`; ICU writes a narrow no-break space before AM/PM, Java 8 omits the
# comma after the year: both are accepted (`\s` matches every Unicode space).
_EN_US = re.compile(
    r"^\s*(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4}),?\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?P<half>[AaPp][Mm])\s*$"
)
_DMY = re.compile(
    r"^\s*(?P<day>\d{1,2})/(?P<month>\d{1,2})/(?P<year>\d{4})"
    r"(?:[ T]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?\s*$"
)
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_INT = re.compile(r"^\s*[+-]?\d{1,18}\s*$")


class ConversionError(ValueError):
    """A raw value cannot be converted; the message says why, for a clerk."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- scalars ------------------------------------------------------------------------------------


def nfc(text: str) -> str:
    """The NFC form of a text with its surrounding whitespace removed."""
    return unicodedata.normalize("NFC", text).strip()


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def escape_unstorable(text: str) -> str:
    """`text` with what no database stores as text made visible: NUL as ``\\x00``, a lone
    surrogate as ``\\ud800`` (for keys and diagnostics, never for a task's own text)."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}" if match.group() != "\x00" else "\\x00"


def to_text(value: Any, options: Mapping[str, Any]) -> str:
    """Text in NFC. Integers become their decimal text; anything else is refused. Option
    `max_chars`: a longer text is refused (checked before any other work on it)."""
    if isinstance(value, str):
        limit = options.get("max_chars")
        if limit is not None and len(value) > limit:
            raise ConversionError(f"is {len(value)} characters long, over the limit of {limit}")
        return nfc(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ConversionError(f"is not text (got {type(value).__name__})")


def to_int(value: Any, options: Mapping[str, Any]) -> int:
    """An integer from a JSON number or a decimal string; `min`/`max` bound it (or `clamp`)."""
    number: int
    if isinstance(value, bool):
        raise ConversionError("is not an integer (got a boolean)")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ConversionError("is not a whole number")
        number = int(value)
    elif isinstance(value, str) and _INT.match(value):
        number = int(value.strip())
    else:
        raise ConversionError("is not an integer")
    low, high = options.get("min"), options.get("max")
    if low is not None and number < low:
        if options.get("clamp"):
            return int(low)
        raise ConversionError(f"is below the minimum {low}")
    if high is not None and number > high:
        if options.get("clamp"):
            return int(high)
        raise ConversionError(f"is above the maximum {high}")
    return number


def to_flag(value: Any, options: Mapping[str, Any]) -> bool:
    """`Y`/`N` (the values in options `true` / `false`, case-insensitive); booleans as they are."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int):
        text = str(value).strip().upper()
        if text in {str(v).upper() for v in options["true"]}:
            return True
        if text in {str(v).upper() for v in options["false"]}:
            return False
    yes = "/".join(str(v) for v in options["true"])
    no = "/".join(str(v) for v in options["false"])
    raise ConversionError(f"is not a flag ({yes} or {no})")


# -- dates and instants -------------------------------------------------------------------------


def _zone(options: Mapping[str, Any]) -> ZoneInfo:
    name = options.get("tz", "")
    return LOCAL_TZ if not name else ZoneInfo(str(name))


def _build(parts: tuple[int, int, int, int, int, int], zone: ZoneInfo, what: str) -> datetime:
    year, month, day, hour, minute, second = parts
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise ConversionError(f"is not a valid {what} ({exc})") from None


def parse_en_us(value: Any, zone: ZoneInfo = LOCAL_TZ) -> datetime:
    """``Apr 13, 2022, 12:00:00 AM`` (local wall time in `zone`) as an aware UTC datetime."""
    what = f"en-US date (like {EN_US_EXAMPLE!r})"
    if not isinstance(value, str):
        raise ConversionError(f"is not a valid {what}")
    m = _EN_US.match(value)
    month = _MONTH_NUMBER.get(m.group("mon").lower()) if m else None
    if m is None or month is None:
        raise ConversionError(f"is not a valid {what}")
    hour12 = int(m.group("hour"))
    if not 1 <= hour12 <= 12:
        raise ConversionError(f"is not a valid {what} (hour {hour12})")
    hour = hour12 % 12 + (12 if m.group("half").upper() == "PM" else 0)
    parts = (
        int(m.group("year")),
        month,
        int(m.group("day")),
        hour,
        int(m.group("minute")),
        int(m.group("second") or 0),
    )
    return _in_utc(_build(parts, zone, what), what)


def _in_utc(local: datetime, what: str) -> datetime:
    """`local` in UTC; a wall time at the very edge of the calendar (year 1, 9999) is refused."""
    try:
        return local.astimezone(UTC)
    except OverflowError:
        raise ConversionError(f"is out of range: not a valid {what}") from None


def format_en_us(instant: datetime, zone: ZoneInfo = LOCAL_TZ) -> str:
    """The en-US local string of an instant (the inverse of `parse_en_us`, to the second)."""
    t = to_utc(instant).astimezone(zone)
    hour12 = t.hour % 12 or 12
    half = "AM" if t.hour < 12 else "PM"
    return f"{MONTHS[t.month - 1]} {t.day}, {t.year}, {hour12}:{t.minute:02d}:{t.second:02d} {half}"


def to_en_us_instant(value: Any, options: Mapping[str, Any]) -> datetime:
    """Local en-US string → aware UTC instant."""
    return parse_en_us(value, _zone(options))


def to_en_us_date(value: Any, options: Mapping[str, Any]) -> date:
    """Local en-US string → its local calendar date (the time of day is ignored)."""
    zone = _zone(options)
    instant = parse_en_us(value, zone)
    try:
        return instant.astimezone(zone).date()
    except OverflowError:
        raise ConversionError("is out of range for a date") from None


def parse_iso_instant(value: Any) -> datetime:
    """An ISO-8601 instant with a UTC offset (``2022-04-12T17:00:00+00:00``, ``...Z``) in UTC."""
    what = "ISO-8601 instant with a UTC offset (like '2022-04-12T17:00:00+00:00')"
    if not isinstance(value, str) or not value.strip():
        raise ConversionError(f"is not a valid {what}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConversionError(f"is not a valid {what}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ConversionError(f"has no UTC offset; expected a {what}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ConversionError(f"is out of range: not a valid {what}") from None


def to_iso_instant(value: Any, options: Mapping[str, Any]) -> datetime:
    """ISO-8601 instant → aware UTC datetime."""
    return parse_iso_instant(value)


def to_iso_local_date(value: Any, options: Mapping[str, Any]) -> date:
    """ISO-8601 instant → its local calendar date (``2022-04-12T17:00:00+00:00`` → 13 April)."""
    instant = parse_iso_instant(value)
    try:
        return instant.astimezone(_zone(options)).date()
    except OverflowError:
        raise ConversionError("is out of range for a date") from None


def to_iso_date(value: Any, options: Mapping[str, Any]) -> date:
    """``2022-04-13`` → a calendar date."""
    what = "date (like '2022-04-13')"
    m = _ISO_DATE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ConversionError(f"is not a valid {what}")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise ConversionError(f"is not a valid {what} ({exc})") from None


def _dmy(value: Any, zone: ZoneInfo, *, with_time: bool) -> datetime:
    what = "dd/mm/yyyy date" + (" [HH:MM[:SS]]" if with_time else "")
    m = _DMY.match(value) if isinstance(value, str) else None
    if m is None or (m.group("hour") is not None and not with_time):
        raise ConversionError(f"is not a valid {what}")
    hour, minute = int(m.group("hour") or 0), int(m.group("minute") or 0)
    if hour > 23 or minute > 59:
        raise ConversionError(f"is not a valid {what} (time {hour}:{minute:02d})")
    parts = (
        int(m.group("year")),
        int(m.group("month")),
        int(m.group("day")),
        hour,
        minute,
        int(m.group("second") or 0),
    )
    return _build(parts, zone, what)


def to_dmy_date(value: Any, options: Mapping[str, Any]) -> date:
    """``13/04/2022`` → a calendar date."""
    return _dmy(value, _zone(options), with_time=False).date()


def to_dmy_instant(value: Any, options: Mapping[str, Any]) -> datetime:
    """``13/04/2022 08:30[:00]`` (local wall time; a bare date is local midnight) → UTC instant."""
    return _in_utc(_dmy(value, _zone(options), with_time=True), "dd/mm/yyyy date-time")


# -- structures ---------------------------------------------------------------------------------


def to_units(value: Any, options: Mapping[str, Any]) -> tuple[UnitRef, ...]:
    """A list of units (``[{"commCode": "SNV", "aname": "Sở Nội vụ"}]``, or bare codes)."""
    if not isinstance(value, list | tuple):
        raise ConversionError("is not a list of units")
    code_key, name_key = str(options["code"]), str(options["name"])
    units: list[UnitRef] = []
    for index, element in enumerate(value):
        code: Any
        name: Any
        if isinstance(element, str | int) and not isinstance(element, bool):
            code, name = element, ""
        elif isinstance(element, Mapping):
            code, name = element.get(code_key), element.get(name_key)
        else:
            raise ConversionError(f"item {index} is not a unit")
        try:
            code_text = to_text(code, options) if code is not None else ""
            name_text = to_text(name, options) if name is not None else ""
        except ConversionError as exc:
            raise ConversionError(f"item {index}: {exc}") from None
        if not code_text:
            raise ConversionError(f"item {index} has no unit code ({code_key!r})")
        units.append(UnitRef(code=code_text, name=name_text))
    return tuple(units)


def _nested(
    element: Mapping[str, Any], key: str, converter: str, none: Sequence[Any], index: int
) -> Any:
    raw = element.get(key)
    if is_none(raw, none):
        return None
    try:
        return convert(converter, raw)
    except ConversionError as exc:
        raise ConversionError(f"item {index}: {key} {_shown(raw)} {exc}") from None


def to_deadline_changes(value: Any, options: Mapping[str, Any]) -> tuple[DeadlineChange, ...]:
    """Deadline history ``[{"oldDeadline", "newDeadline", "changedDateStr", "reason"}]``."""
    if not isinstance(value, list | tuple):
        raise ConversionError("is not a list of deadline changes")
    none = tuple(options["none_values"])
    changes: list[DeadlineChange] = []
    for index, element in enumerate(value):
        if not isinstance(element, Mapping):
            raise ConversionError(f"item {index} is not an object")
        reason = element.get(str(options["reason"]))
        changes.append(
            DeadlineChange(
                old_deadline=_nested(element, options["old"], options["date"], none, index),
                new_deadline=_nested(element, options["new"], options["date"], none, index),
                changed_at=_nested(element, options["changed"], options["instant"], none, index),
                reason=nfc(reason) if isinstance(reason, str) else "",
            )
        )
    return tuple(changes)


def to_state(value: Any, options: Mapping[str, Any]) -> TaskState:
    """A source status → open / done / cancelled through the mapping's `[status]` table."""
    table: Mapping[str, str] = options["table"]
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        state = table.get(text)
        if state is None:
            folded = {k.casefold(): v for k, v in table.items()}
            state = folded.get(text.casefold())
        if state is not None:
            return TaskState(state)
    known = ", ".join(sorted(table))
    raise ConversionError(f"is not a known status (known: {known})")


def none_text(text: str) -> str:
    """The form a text sentinel is compared in: without spaces (any Unicode space) and commas,
    so that ``Feb 1, 2200, 12:00:01 AM`` also matches the forms the en-US converters read (a
    narrow no-break space before AM, no comma after the year)."""
    return "".join(text.split()).replace(",", "")


def is_none(value: Any, none_values: Sequence[Any]) -> bool:
    """True for JSON null and for a sentinel meaning "none" (strings compared by `none_text`)."""
    if value is None:
        return True
    for sentinel in none_values:
        if isinstance(value, str) and isinstance(sentinel, str):
            if none_text(value) == none_text(sentinel):
                return True
        elif type(value) is type(sentinel) and value == sentinel:
            return True
    return False


# -- the registry -------------------------------------------------------------------------------

OptionCheck = Callable[[Mapping[str, Any]], list[str]]


def _no_check(options: Mapping[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True)
class Converter:
    """A named conversion: what it gives, which options it takes (with defaults), how."""

    name: str
    kind: Kind
    func: Callable[[Any, Mapping[str, Any]], Any]
    help: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    check: OptionCheck = _no_check

    def options(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overlaid with the given options."""
        return {**self.params, **(given or {})}

    def __call__(self, value: Any, options: Mapping[str, Any] | None = None) -> Any:
        return self.func(value, self.options(options))


def _check_tz(options: Mapping[str, Any]) -> list[str]:
    name = options.get("tz", "")
    if not name:
        return []
    if not isinstance(name, str):
        return [f"tz must be a time-zone name such as 'Asia/Ho_Chi_Minh', not {name!r}"]
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"tz {name!r} is not a known time zone (e.g. 'Asia/Ho_Chi_Minh')"]
    return []


def _check_int(options: Mapping[str, Any]) -> list[str]:
    problems = [
        f"{key} must be an integer, not {options[key]!r}"
        for key in ("min", "max")
        if options.get(key) is not None
        and (not isinstance(options[key], int) or isinstance(options[key], bool))
    ]
    if not isinstance(options.get("clamp"), bool):
        problems.append(f"clamp must be true or false, not {options.get('clamp')!r}")
    return problems


def _check_text(options: Mapping[str, Any]) -> list[str]:
    limit = options.get("max_chars")
    if limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and limit > 0):
        return []
    return [f"max_chars must be a positive integer, not {limit!r}"]


def _check_flag(options: Mapping[str, Any]) -> list[str]:
    return [
        f'{key} must be a list of values, e.g. ["Y"], not {options[key]!r}'
        for key in ("true", "false")
        if not isinstance(options[key], list | tuple) or not options[key]
    ]


def _check_keys(*keys: str) -> OptionCheck:
    def check(options: Mapping[str, Any]) -> list[str]:
        return [
            f"{key} must be a non-empty key name, not {options[key]!r}"
            for key in keys
            if not isinstance(options[key], str) or not options[key]
        ]

    return check


def _check_changes(options: Mapping[str, Any]) -> list[str]:
    problems = _check_keys("old", "new", "changed", "reason")(options)
    pairs: tuple[tuple[str, Kind], ...] = (("date", "date"), ("instant", "instant"))
    for key, kind in pairs:
        name = options[key]
        conv = REGISTRY.get(name) if isinstance(name, str) else None
        if conv is None or conv.kind != kind:
            valid = ", ".join(names_of_kind(kind))
            problems.append(f"{key} = {name!r} is not a {kind} converter; valid: {valid}")
    if not isinstance(options["none_values"], list | tuple):
        problems.append("none_values must be a list")
    return problems


def _check_table(options: Mapping[str, Any]) -> list[str]:
    table = options.get("table")
    if not isinstance(table, Mapping) or not table:
        return ["needs the [status] table of the mapping (source status = open|done|cancelled)"]
    valid = {s.value for s in TaskState}
    return [
        f"status {key!r} maps to {value!r}; valid: {', '.join(sorted(valid))}"
        for key, value in table.items()
        if value not in valid
    ]


_TZ = MappingProxyType({"tz": ""})

REGISTRY: Mapping[str, Converter] = MappingProxyType(
    {
        c.name: c
        for c in (
            Converter(
                "text",
                "text",
                to_text,
                "text, normalised to NFC and trimmed; option max_chars (longer: quarantined)",
                MappingProxyType({"max_chars": None}),
                _check_text,
            ),
            Converter(
                "int",
                "int",
                to_int,
                "integer (JSON number or decimal string); options min, max, clamp",
                MappingProxyType({"min": None, "max": None, "clamp": False}),
                _check_int,
            ),
            Converter(
                "flag_yn",
                "flag",
                to_flag,
                "'Y'/'N' flag → true/false; options true, false (lists of values)",
                MappingProxyType({"true": ("Y",), "false": ("N",)}),
                _check_flag,
            ),
            Converter(
                "en_us_instant",
                "instant",
                to_en_us_instant,
                f"local en-US date-time ({EN_US_EXAMPLE!r}) → UTC instant; option tz",
                _TZ,
                _check_tz,
            ),
            Converter(
                "en_us_date",
                "date",
                to_en_us_date,
                f"local en-US date-time ({EN_US_EXAMPLE!r}) → its local date; option tz",
                _TZ,
                _check_tz,
            ),
            Converter(
                "iso_instant", "instant", to_iso_instant, "ISO-8601 instant with offset → UTC"
            ),
            Converter(
                "iso_local_date",
                "date",
                to_iso_local_date,
                "ISO-8601 instant → its local calendar date; option tz",
                _TZ,
                _check_tz,
            ),
            Converter("iso_date", "date", to_iso_date, "'2022-04-13' → date"),
            Converter("dmy_date", "date", to_dmy_date, "'13/04/2022' → date", _TZ, _check_tz),
            Converter(
                "dmy_instant",
                "instant",
                to_dmy_instant,
                "'13/04/2022 08:30:00' local wall time → UTC instant; option tz",
                _TZ,
                _check_tz,
            ),
            Converter(
                "units",
                "units",
                to_units,
                "list of units → (code, name) pairs; options code, name (keys in each item)",
                MappingProxyType({"code": "commCode", "name": "aname"}),
                _check_keys("code", "name"),
            ),
            Converter(
                "deadline_changes",
                "deadline_changes",
                to_deadline_changes,
                "deadline history; options old, new, changed, reason (keys), date, instant "
                "(converter names), none_values",
                MappingProxyType(
                    {
                        "old": "oldDeadline",
                        "new": "newDeadline",
                        "changed": "changedDateStr",
                        "reason": "reason",
                        "date": "en_us_date",
                        "instant": "iso_instant",
                        "none_values": (NO_DEADLINE, ""),
                    }
                ),
                _check_changes,
            ),
            Converter(
                "status",
                "state",
                to_state,
                "source status → open/done/cancelled through the mapping's [status] table",
                MappingProxyType({"table": MappingProxyType({})}),
                _check_table,
            ),
        )
    }
)
"""Every converter a mapping may name."""


def names_of_kind(kind: Kind) -> list[str]:
    """Names of the converters that give `kind`, sorted."""
    return sorted(name for name, conv in REGISTRY.items() if conv.kind == kind)


def convert(name: str, value: Any, options: Mapping[str, Any] | None = None) -> Any:
    """Run the converter `name` on `value` (raises ConversionError, KeyError for unknown names)."""
    return REGISTRY[name](value, options)


# -- formatters of the modified-from value ------------------------------------------------------


def _floor(instant: datetime) -> datetime:
    return to_utc(instant).replace(microsecond=0)


FORMATTERS: Mapping[str, Callable[[datetime], str | int]] = MappingProxyType(
    {
        "iso_utc": lambda t: _floor(t).isoformat(),
        "iso_utc_z": lambda t: _floor(t).isoformat().replace("+00:00", "Z"),
        "en_us_local": lambda t: format_en_us(_floor(t)),
        "dmy_local_date": lambda t: local_date(t).strftime("%d/%m/%Y"),
        "iso_local_date": lambda t: local_date(t).isoformat(),
        "epoch_seconds": lambda t: int(_floor(t).timestamp()),
        "epoch_millis": lambda t: int(_floor(t).timestamp()) * 1000,
    }
)
"""How the modified-from instant is written into a request. Every formatter rounds *down* (to
the second, or to the local day), so the filter never skips a record the cursor covers."""


def format_instant(name: str, instant: datetime) -> str | int:
    """Write `instant` with the formatter `name`."""
    return FORMATTERS[name](instant)


FLOORS: Mapping[str, Callable[[datetime], datetime]] = MappingProxyType(
    {
        "iso_utc": _floor,
        "iso_utc_z": _floor,
        "en_us_local": _floor,
        "dmy_local_date": lambda t: local_midnight(local_date(t)),
        "iso_local_date": lambda t: local_midnight(local_date(t)),
        "epoch_seconds": _floor,
        "epoch_millis": _floor,
    }
)
"""The instant each formatter actually sends: what a filter value written with it means."""


def floor_for(name: str, instant: datetime) -> datetime:
    """`instant` rounded down to what the formatter `name` can express."""
    return FLOORS[name](instant)
