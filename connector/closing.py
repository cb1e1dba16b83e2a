"""Resources closed at the end of a ``with`` block: ``with Thing(...) as thing:`` calls
``thing.close()`` however the block ends."""

from __future__ import annotations

from typing import Self


class Closing:
    """A resource with a `close` method, usable as a context manager that closes it."""

    def close(self) -> None:
        """Release the resource (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
