"""Resources closed at the end of a ``with`` block: ``with Thing(...) as thing:`` calls
``thing.close()`` however the block ends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Closing(ABC):
    """A resource with a `close` method, usable as a context manager that closes it."""

    @abstractmethod
    def close(self) -> None:
        """Release the resource (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
