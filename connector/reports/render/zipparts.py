"""Parts of an Office file written after the library that made it saved it.

A .docx or an .xlsx is a zip of XML parts. python-docx and openpyxl hold every cell of a table
as an object until the file is saved: at 100,000 tasks that is gigabytes and a minute. The Word
and Excel reports therefore leave their annex rows out of the document they build, and write
them as text into their part while the saved file is copied (`rewritten`), a thousand rows at a
time (`write_rows`); every other part is copied as it is.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import IO

PartWriter = Callable[[bytes, IO[bytes]], None]
"""Writes a part anew to the stream, given the part as the library saved it."""

ROWS_PER_WRITE = 1000
ZIP64_ROWS = 200_000
"""Beyond this many rows written into a file's parts, a part may pass 2 GiB: write it as Zip64
(`rewritten`'s `zip64`)."""


def rewritten(saved: bytes, parts: Mapping[str, PartWriter], *, zip64: bool) -> bytes:
    """The file `saved` with each part named in `parts` written by its writer (`zip64`: the
    rewritten parts may pass 2 GiB, so they are written as Zip64)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            write = parts.get(info.filename)
            if write is None:
                target.writestr(info, source.read(info))
                continue
            part = zipfile.ZipInfo(info.filename, info.date_time)
            part.compress_type = info.compress_type
            with target.open(part, "w", force_zip64=zip64) as stream:
                write(source.read(info), stream)
    return out.getvalue()


def write_rows(stream: IO[bytes], rows: Iterable[str]) -> None:
    """`rows` (XML text) to `stream`, `ROWS_PER_WRITE` at a time."""
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= ROWS_PER_WRITE:
            stream.write("".join(batch).encode())
            batch.clear()
    stream.write("".join(batch).encode())
