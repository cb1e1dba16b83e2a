"""Crash points: TEST HOOKS that kill the connector at a chosen step of a delivery.

They exist only so the crash-safety tests can prove that an intent is neither lost nor delivered
twice when the process dies (power cut, OOM killer, ``kill -9``) at the worst moment. In
production the environment variable is unset and `crash_point` does nothing but a dictionary
look-up.

Set ``IDESK_CONNECTOR_CRASH_AT`` to a point's name and the process sends itself ``SIGKILL`` (no
clean-up, no ``finally``, no flush: like a power cut) when it reaches that point. Append
``@N`` to crash on the N-th time the point is reached in this process (``after_mark_sent@3``).
Append ``:wait`` to be killed from outside instead (``after_request_sent:wait``,
``after_mark_sent@2:wait``): at the point the process writes ``crash point NAME reached:
waiting for SIGKILL`` to stderr and waits, so a test can kill it at a known moment and cannot
pass without the kill; after `WAIT_LIMIT_S` without one it kills itself.

=========================  ========================================================================
name                       where
=========================  ========================================================================
``before_intent_commit``   outbox rows were added to the transaction of the ledger change that
                           caused them, which has not committed yet
                           (`connector.outbox.planning.plan`)
``after_mark_sending``     a row was marked ``sending`` and committed; no request made yet
``after_request_sent``     the request reached the server and it answered, but the answer was not
                           acted on (a crash between sending and reading, emulated right after
                           the client call returns)
``after_response``         the answer was read and understood; the ledger not yet updated
``after_mark_sent``        the row is ``sent`` and committed
``page_classifier``        the second process of a big pull is about to judge a page
                           (`connector.source.classifier`): it dies, the pull goes on
=========================  ========================================================================

In that second process only ``page_classifier`` is armed (`only_here`): ``before_intent_commit``
is reached where the pull's own process writes what it planned.
"""

from __future__ import annotations

import os
import signal
import sys
import time

ENV_VAR = "IDESK_CONNECTOR_CRASH_AT"

CRASH_POINTS: frozenset[str] = frozenset(
    {
        "before_intent_commit",
        "after_mark_sending",
        "after_request_sent",
        "after_response",
        "after_mark_sent",
        "page_classifier",
    }
)
"""Every crash point the connector has."""

WAIT_LIMIT_S = 600.0
"""How long a ``:wait`` crash point waits to be killed before it kills itself."""

_hits: dict[str, int] = {}


def _target() -> tuple[str, int, bool] | None:
    """The point's name, which time it is reached to crash (from 1), and whether to wait."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    raw, wait_mark, mode = raw.rpartition(":")
    if not wait_mark:  # no ":": the whole value is the point
        raw, mode = mode, ""
    name, _, nth = raw.partition("@")
    try:
        count = int(nth) if nth else 1
    except ValueError:
        count = 1
    return name, count, mode == "wait"


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL when ``IDESK_CONNECTOR_CRASH_AT`` names this point.

    A test hook (see the module docstring). An unknown `name` is a programming error.
    """
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}; valid: {', '.join(sorted(CRASH_POINTS))}")
    target = _target()
    if target is None or target[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] < target[1]:
        return
    if target[2]:
        sys.stderr.write(f"crash point {name} reached: waiting for SIGKILL\n")
        sys.stderr.flush()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while time.monotonic() < deadline:
            time.sleep(0.05)
    sys.stderr.write(f"crash point {name} reached: SIGKILL\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def only_here(*names: str) -> None:
    """In this process, arm only the crash points `names` (a forked helper process: the others
    belong to its parent)."""
    target = _target()
    if target is not None and target[0] not in names:
        os.environ.pop(ENV_VAR, None)
