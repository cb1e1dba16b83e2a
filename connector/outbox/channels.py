"""Delivering the rows of the e-mail and webhook channels: digests and webhook posts.

`deliver_channels` takes the due ``digest`` and ``webhook`` rows (``pending``, ``failed`` whose
``next_attempt_at`` has come, and any a crash left in ``sending``), oldest first, and for each:

1. marks it ``sending``, stamps ``in_doubt_since`` the first time, and **commits** before any
   byte is sent. A digest is frozen in this first claim: its subject, texts, ``Date`` and
   ``Message-ID`` are rendered from the alerts it bundles and stored in the row, so every
   resend is the same message (`connector.notify.smtp.Digest`);
2. sends it: the digest to the unit's addresses in the address book (looked up at each send,
   so a corrected book applies to a retry), the webhook body with its ``Idempotency-Key``;
3. marks it ``sent`` with the server's reply, in one commit, right after the reply (for SMTP,
   before even saying QUIT), so the window in which a reply was seen but not recorded is as
   short as it can be.

**At least once, never silently lost.** Neither SMTP nor an arbitrary webhook can be asked
afterwards whether a message arrived: a row found in ``sending`` after a crash, or one whose
reply was lost (connection cut after the data went out, a timeout), *may* have been delivered.
It is sent again, with the same ``Message-ID`` (mail clients show one message) or the same
``Idempotency-Key`` (a receiver that keeps keys acts once); the resend is logged
(``outbox_resend_in_doubt``) and counted (``resent_in_doubt``). The other choice, at most once,
would mark such a row delivered unseen and could lose an alert for good. A duplicate can only
come from a crash (or a cut connection) between the server's acceptance and the commit that
follows it.

Failures: a transient one (`DeliveryError`: server down, ``4xx``/``5xx`` deferrals, ``408``,
``429``, timeouts) counts an attempt and sets ``failed`` with the same backoff as the source
channel (``push.retry_*``, ``dead`` after ``push.max_attempts``), then stops that channel for
this run: its other rows wait, counted as ``undelivered``. A permanent refusal
(`DeliveryRefused`: a ``5xx`` to the message, every recipient refused, a unit without an
address, a webhook ``4xx``) makes the row ``dead`` at once, logged ``delivery_dead``. Settings
the server refuses (`ChannelUnusable`: login, certificate, STARTTLS, sender) put the row back
to ``failed`` without counting an attempt and stop the channel.

Crash points (`connector.ops.faultpoints`) sit between the steps, as for the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

import structlog

from connector.clock import Clock, to_utc
from connector.errors import ChannelUnusable, DeliveryError, DeliveryRefused, OutboxStateError
from connector.ledger.channels import DueRow, digest_alerts, due_rows
from connector.ledger.outbox import get_row
from connector.models import Unit
from connector.notify.addressbook import AddressBook
from connector.notify.digest import DigestAlert, render_digest
from connector.notify.smtp import Digest, build_message, header_date, message_bytes, message_id
from connector.ops.faultpoints import crash_point
from connector.ops.signals import InterruptGuard
from connector.outbox.keys import dump_payload, payload_of
from connector.outbox.states import (
    DELIVERABLE,
    OutboxKind,
    OutboxState,
    mark_dead,
    mark_failed,
    mark_sending,
    mark_sent,
    transition,
)
from connector.settings import Settings

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.db import Ledger
    from connector.ledger.tables import OutboxRow
    from connector.notify.addressbook import Mailbox
    from connector.notify.smtp import SmtpReceipt
    from connector.notify.webhook import WebhookReceipt
    from connector.outbox.delivery import PushResult

log = structlog.get_logger(__name__)


class EmailSending(Protocol):
    """What delivery needs of an SMTP sender (`connector.notify.smtp.SmtpSender`)."""

    @property
    def sender(self) -> Mailbox: ...

    @property
    def domain(self) -> str: ...

    def send(self, data: bytes, to: list[Mailbox]) -> SmtpReceipt: ...


class WebhookSending(Protocol):
    """What delivery needs of a webhook sender (`connector.notify.webhook.WebhookSender`)."""

    def send(self, body: bytes, key: str) -> WebhookReceipt: ...


@dataclass(frozen=True)
class Channels:
    """The senders of a run (None: channel not in use) and the address book."""

    email: EmailSending | None = None
    webhook: WebhookSending | None = None
    book: AddressBook | None = None

    def kinds(self) -> list[OutboxKind]:
        kinds = []
        if self.email is not None:
            kinds.append(OutboxKind.DIGEST)
        if self.webhook is not None:
            kinds.append(OutboxKind.WEBHOOK)
        return kinds


@dataclass(frozen=True)
class _Job:
    id: int
    kind: str
    key: str
    payload_json: str
    in_doubt: bool


class _Halt(Exception):
    """Stop this channel for the run."""


# -- claiming ------------------------------------------------------------------------------------


def _freeze_digest(
    session: Session,
    row: OutboxRow,
    *,
    channels: Channels,
    units: Mapping[str, Unit],
    lang: str,
    now: datetime,
) -> None:
    """Render the digest from the alerts it bundles and store it in the row (first claim)."""
    payload = payload_of(row)
    if "message_id" in payload:
        return
    unit = str(payload.get("unit", ""))
    day = date.fromisoformat(str(payload.get("day")))
    entries = digest_alerts(session, row.id or 0)
    alerts = [DigestAlert.from_payload(e.idempotency_key, e.payload) for e in entries]
    name = units[unit].name if unit in units and units[unit].name else unit
    text = render_digest(key=row.idempotency_key, unit_name=name, day=day, alerts=alerts, lang=lang)
    domain = channels.email.domain if channels.email is not None else "localhost"
    digest = Digest(
        key=row.idempotency_key,
        unit=unit,
        day=day.isoformat(),
        subject=text.subject,
        text=text.text,
        html=text.html,
        date=header_date(now),
        message_id=message_id(row.idempotency_key, domain),
        alert_keys=tuple(e.idempotency_key for e in entries),
        lang=lang,
    )
    row.payload_json = dump_payload(
        {**digest.payload(), "recipients": [unit], "title": text.subject}
    )


def _claim(
    ledger: Ledger,
    row_id: int,
    now: datetime,
    *,
    channels: Channels,
    units: Mapping[str, Unit],
    lang: str,
) -> _Job | None:
    with ledger.transaction() as session:
        row = get_row(session, row_id)
        if row is None or row.state not in DELIVERABLE:
            return None
        in_doubt = row.in_doubt_since is not None or row.state == OutboxState.SENDING.value
        mark_sending(row, now)
        try:
            if row.kind == OutboxKind.DIGEST.value:
                _freeze_digest(session, row, channels=channels, units=units, lang=lang, now=now)
            else:
                payload_of(row)
        except (OutboxStateError, ValueError, KeyError) as exc:
            mark_dead(row, f"bad_payload: {exc}")
            log.error("delivery_dead", code="bad_payload", key=row.idempotency_key, id=row_id)
            return None
        if row.in_doubt_since is None:
            row.in_doubt_since = to_utc(now)
        return _Job(row.id or row_id, row.kind, row.idempotency_key, row.payload_json, in_doubt)


# -- sending ---------------------------------------------------------------------------------


def _send_digest(channels: Channels, job: _Job) -> tuple[str, str]:
    """Send a frozen digest; (the server's reply, a note of refused recipients or "")."""
    sender, book = channels.email, channels.book
    assert sender is not None and book is not None
    digest = Digest.from_payload(job.key, payload_of(_Stored(job)))
    to = list(book.addresses(digest.unit))
    if not to:
        raise DeliveryRefused(
            f"unit {digest.unit} has no address in the address book ({book.source}); add it, "
            "then `idesk-connector outbox retry`",
            key=job.key,
            code="no_address",
        )
    data = message_bytes(build_message(digest, sender.sender, to))
    receipt = sender.send(data, to)
    note = ""
    if receipt.refused:
        note = "refused recipients: " + "; ".join(
            f"{address}: {code} {text}" for address, (code, text) in sorted(receipt.refused.items())
        )
        log.warning("email_recipients_refused", key=job.key, refused=sorted(receipt.refused))
    return receipt.reply, note[:1000]


@dataclass(frozen=True)
class _Stored:
    job: _Job

    @property
    def id(self) -> int | None:
        return self.job.id

    @property
    def payload_json(self) -> str:
        return self.job.payload_json


def _send(channels: Channels, job: _Job) -> tuple[str, str]:
    if job.kind == OutboxKind.DIGEST.value:
        return _send_digest(channels, job)
    assert channels.webhook is not None
    receipt = channels.webhook.send(job.payload_json.encode("utf-8"), job.key)
    return receipt.response_id, ""


# -- recording -------------------------------------------------------------------------------


def _finish_sent(ledger: Ledger, job: _Job, now: datetime, response_id: str, note: str) -> bool:
    with ledger.transaction() as session:
        row = get_row(session, job.id)
        if row is None or row.state != OutboxState.SENDING.value:
            return False
        mark_sent(row, now, response_id[:300])
        if note:
            row.last_error = note
    return True


def _record_failure(
    ledger: Ledger, job: _Job, now: datetime, error: str, settings: Settings, *, refused: bool
) -> OutboxState:
    with ledger.transaction() as session:
        row = get_row(session, job.id)
        if row is None or row.state != OutboxState.SENDING.value:
            return OutboxState(row.state) if row is not None else OutboxState.DEAD
        if refused:
            mark_dead(row, error)
            return OutboxState.DEAD
        return mark_failed(row, now, error, settings.push)


def _release(ledger: Ledger, job: _Job, error: str) -> None:
    """Back to ``failed`` without counting an attempt (the settings, not the row, failed)."""
    with ledger.transaction() as session:
        row = get_row(session, job.id)
        if row is not None and row.state == OutboxState.SENDING.value:
            transition(row, OutboxState.FAILED)
            row.last_error = error
            row.next_attempt_at = None


def _count_sent(result: PushResult, job: _Job) -> None:
    result.sent += 1
    if job.kind == OutboxKind.DIGEST.value:
        result.digests_sent += 1
    else:
        result.webhooks_sent += 1


def _deliver(
    ledger: Ledger,
    channels: Channels,
    job: _Job,
    *,
    settings: Settings,
    clock: Clock,
    result: PushResult,
) -> None:
    fields = {"key": job.key, "kind": job.kind}
    if job.in_doubt:
        result.resent_in_doubt += 1
        log.warning("outbox_resend_in_doubt", **fields)
    try:
        response_id, note = _send(channels, job)
        crash_point("after_request_sent")
        crash_point("after_response")
        if _finish_sent(ledger, job, clock.now(), response_id, note):
            _count_sent(result, job)
            log.info("outbox_delivered", response_id=response_id, **fields)
        crash_point("after_mark_sent")
    except DeliveryRefused as exc:
        code = exc.code or "refused"
        _record_failure(ledger, job, clock.now(), f"{code}: {exc}", settings, refused=True)
        result.dead += 1
        log.error("delivery_dead", code=code, status=exc.status, error=str(exc), **fields)
    except ChannelUnusable as exc:
        _release(ledger, job, str(exc))
        result.failed += 1
        log.error("channel_unusable", channel=exc.channel, setting=exc.setting, error=str(exc))
        raise _Halt(str(exc)) from exc
    except DeliveryError as exc:
        state = _record_failure(ledger, job, clock.now(), str(exc), settings, refused=False)
        if state is OutboxState.DEAD:
            result.dead += 1
            log.error(
                "delivery_dead",
                code="attempts_exhausted",
                status=exc.status,
                error=str(exc),
                **fields,
            )
        else:
            result.failed += 1
            log.warning("delivery_failed", error=str(exc), **fields)
        raise _Halt(str(exc)) from exc


def deliver_channels(
    ledger: Ledger,
    channels: Channels,
    settings: Settings,
    clock: Clock,
    result: PushResult,
    *,
    units: Mapping[str, Unit],
    dry_run: bool = False,
    guard: InterruptGuard | None = None,
) -> None:
    """Deliver every due digest and webhook row (see the module docstring) into `result`."""
    due = due_rows(ledger, to_utc(clock.now()), channels.kinds())
    result.due += len(due)
    if dry_run:
        result.would_send += len(due)
        return
    halted: dict[str, str] = {}
    for position, item in enumerate(due):
        if item.kind in halted:
            continue
        if guard is not None:
            guard.check()
        job = _claim(
            ledger, item.id, clock.now(), channels=channels, units=units, lang=settings.alerts.lang
        )
        if job is None:
            continue
        crash_point("after_mark_sending")
        try:
            _deliver(ledger, channels, job, settings=settings, clock=clock, result=result)
        except _Halt as halt:
            halted[item.kind] = str(halt)
            left = _still_due(ledger, [d for d in due[position:] if d.kind == item.kind])
            result.undelivered += left
            result.stopped = result.stopped or f"{item.kind}_trouble"
            result.stop_error = result.stop_error or str(halt)
            log.warning("channel_stopped", kind=item.kind, error=str(halt), undelivered=left)


def _still_due(ledger: Ledger, rows: list[DueRow]) -> int:
    from connector.ledger.outbox import still_due  # noqa: PLC0415

    return still_due(ledger, [r.id for r in rows])
