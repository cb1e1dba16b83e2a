"""One exception tree for the whole connector, branched by what the caller should do.

::

    ConnectorError                      root; never raised itself
    ├── ConfigError                     fix the configuration, then rerun      (exit 2)
    │   ├── MappingError                fix the mapping file, then rerun       (exit 2)
    │   └── LedgerMissing               no ledger (or no schema) to read yet   (exit 2)
    ├── SourceError                     the document system did not cooperate  (exit 3)
    │   ├── AuthError                   credentials refused: fix them          (exit 3)
    │   ├── SourceUnavailable           transient: retry later, nothing written (exit 3)
    │   ├── SourceRefused               a permanent 4xx for this request
    │   └── SourcePagingError           the list cannot be paged to its end    (exit 3)
    ├── BadRecord                       skip this record: quarantine it, go on
    ├── NotFound                        the task / row asked for is not there  (exit 4)
    ├── LedgerError                     the ledger cannot be read or written   (exit 74)
    │   └── LockLost                    the run's PostgreSQL lock went with its session (exit 74)
    ├── DeliveryError                   a write-back or alert could not be delivered
    │   ├── DeliveryRefused             permanent refusal (dead letter)
    │   └── ChannelUnusable             e-mail/webhook settings refused: fix them, rows wait
    ├── OutboxStateError                an outbox row cannot take that step (id, state)
    └── LockHeld                        another run holds the ledger lock       (exit 75)

Anything else that escapes to the command line is a bug: exit 70 (internal error), with the
traceback in the log only. An `OSError` that escapes (a report file on a full disk) is an I/O
error like `LedgerError`: exit 74.

Every error carries attributes, not only a message, and its message is written for a clerk:
what happened, which key / task / URL (never with a secret), and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a file: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(ConnectorError):
    """The configuration is wrong; every problem found is listed together."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem] | str, *, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(source or "config", problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in {source}" if source else "configuration"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}:\n{body}")

    def brief(self) -> str:
        """One problem as one line, its file named once (``FILE: key: what``, ``FILE:6 ...:
        what``); several problems: the message (a head line, then a line per problem)."""
        if len(self.problems) != 1:
            return str(self)
        problem = self.problems[0]
        if problem.where in ("config", "", self.source):
            return f"{self.source}: {problem.message}" if self.source else problem.message
        if not self.source:
            return str(problem)
        rest = problem.where.removeprefix(self.source)
        if rest != problem.where and rest[:1] in (":", " "):
            return str(problem)
        return f"{self.source}: {problem}"


class MappingError(ConfigError):
    """A mapping file is invalid; every problem is listed with file and key."""


class SourceError(ConnectorError):
    """The document system could not be used for this run."""

    exit_code = 3

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        self.url = url
        self.status = status
        where = f" ({url}" + (f", HTTP {status}" if status is not None else "") + ")" if url else ""
        super().__init__(message + where)


class AuthError(SourceError):
    """The credentials were refused. Fix the username/password or token and rerun."""


class SourceUnavailable(SourceError):
    """The source stayed unavailable past the retry budget; nothing was half-written."""

    budget_spent: bool = False
    """True when the run's retry budget (``retry.total_budget``) is used up, not only the
    attempts of one request (``retry.max_attempts``)."""


class SourceRefused(SourceError):
    """The source refused a request permanently (a 4xx other than auth/rate limit)."""

    def __init__(
        self, message: str, *, url: str = "", status: int | None = None, code: str = ""
    ) -> None:
        self.code = code
        super().__init__(message, url=url, status=status)


class SourcePagingError(SourceError):
    """The source's list cannot be paged to its end (it answers the same page again, repeats a
    page token or link). The pages stored before stay, the cursor never passes them; the next
    run tries again, and the source (or the mapping's pagination) must be fixed."""

    def __init__(self, message: str, *, page: int | None = None, url: str = "") -> None:
        self.page = page
        super().__init__(message, url=url)


class BadRecord(ConnectorError):
    """One source record cannot be normalised. Skip it (quarantine) and go on."""

    def __init__(
        self, message: str, *, task_id: str = "", field: str = "", value: str = ""
    ) -> None:
        self.task_id = task_id
        self.field = field
        self.value = value
        super().__init__(message)


class LedgerMissing(ConfigError):
    """A read-only command found no ledger (or a ledger without the current schema) to read.

    Read-only commands never create or migrate a ledger: run `sync` or `db upgrade` first, or
    point ``ledger.url`` at the right database.
    """

    def __init__(self, message: str, *, location: str = "") -> None:
        self.location = location
        super().__init__([Problem("ledger.url", message)])


class NotFound(ConnectorError):
    """What was asked for (a task id, an outbox row) is not in the ledger."""

    exit_code = 4

    def __init__(self, message: str, *, what: str = "", key: str = "") -> None:
        self.what = what
        self.key = key
        super().__init__(message)


class LedgerError(ConnectorError):
    """The ledger database cannot be opened, migrated, read or written (disk full, read-only
    file system, database server down): an I/O failure, exit 74 (``EX_IOERR``)."""

    exit_code = 74


class LockLost(LedgerError):
    """The PostgreSQL session holding the run's advisory lock ended mid-run (the server
    restarted, or ``pg_terminate_backend`` ended it): the lock went with it, so the run stops at
    its next safe point rather than go on beside a run that may have taken the lock since."""

    def __init__(self, lock: str) -> None:
        self.lock = lock
        super().__init__(
            f"the run lost its lock ({lock}): the database session holding it ended (the "
            "PostgreSQL server restarted, or the session was terminated), so another run could "
            "take it; this run stopped before committing more. What was committed is kept; the "
            "next run resumes from there"
        )


class DeliveryError(ConnectorError):
    """A tracking-status write or an alert could not be delivered (will be retried).

    `retried`: the client retried the request already (``retry.*``) and the source stayed in
    trouble, so the run stops delivering; False for one final answer to this request that may
    pass later (an application's HTTP 500): that row fails alone and the run goes on.
    """

    def __init__(
        self, message: str, *, key: str = "", status: int | None = None, retried: bool = True
    ) -> None:
        self.key = key
        self.status = status
        self.retried = retried
        super().__init__(message)


class DeliveryRefused(DeliveryError):
    """The source refused a delivery permanently; the outbox row goes to `dead`."""

    def __init__(
        self, message: str, *, key: str = "", status: int | None = None, code: str = ""
    ) -> None:
        self.code = code
        super().__init__(message, key=key, status=status)


class ChannelUnusable(DeliveryError):
    """A channel other than the source cannot be used as configured (the SMTP login refused,
    a certificate not trusted, no STARTTLS offered): its rows wait, no attempt is counted, and
    the channel is left alone for this run. The message names the setting to fix."""

    def __init__(self, message: str, *, channel: str, setting: str = "") -> None:
        self.channel = channel
        self.setting = setting
        super().__init__(message)


class OutboxStateError(ConnectorError):
    """An outbox row does not exist or cannot take the requested step (e.g. retry a sent row)."""

    def __init__(self, message: str, *, row_id: int | None = None, state: str = "") -> None:
        self.row_id = row_id
        self.state = state
        super().__init__(message)


class LockHeld(ConnectorError):
    """Another connector run holds the ledger lock."""

    exit_code = 75

    def __init__(self, lock_path: str, wait_s: float = 0) -> None:
        self.lock_path = lock_path
        advice = (
            f"it was still held after waiting {wait_s:g} s (--wait); it will finish on its own"
            if wait_s > 0
            else "it will finish on its own (use --wait N to wait up to N seconds)"
        )
        super().__init__(f"another idesk-connector run holds the lock {lock_path}; {advice}")


class Interrupted(ConnectorError):
    """The run was stopped by SIGINT/SIGTERM; the current transaction was rolled back."""

    exit_code = 130


def interrupt_in(exc: BaseException) -> Interrupted | None:
    """The `Interrupted` that `exc` is, or that it was raised while handling: a signal raised
    inside library code whose own clean-up then failed (``threading.Thread.start`` answers
    with a KeyError) is still the interrupt, not a bug."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Interrupted):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
