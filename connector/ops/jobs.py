"""One unattended run of the connector: `pull`, `push` or `sync` (= pull, classify, plan, deliver).

A run, in order:

1. opens the ledger (migrating it on first use) and takes the **run lock**: a kernel lock on a
   separate lock file, plus an advisory lock on PostgreSQL (`connector.ops.locking`); a second run
   fails at once with `LockHeld` (exit 75) unless ``wait_s`` lets it wait;
2. turns SIGTERM/SIGINT into `Interrupted` (exit 130) at a safe point (`connector.ops.signals`);
3. records the run (`connector.ops.runs.recorded_run`): trigger, start, end, outcome and counts,
   and one ``run_finished`` summary event;
4. pulls (`connector.source.pull.pull`: pages, classification, and the outbox rows planned in
   the same transactions), then routes the new alerts to their channels and makes the day's
   e-mail digests (`connector.outbox.routing`), and delivers what is due in order of priority:
   by e-mail and webhook (`connector.outbox.channels.deliver_channels`), then to the source
   (`connector.outbox.delivery.deliver_pending`: alerts, then tracking writes). With the
   e-mail channel in use, the address book is read and validated before anything else (a bad
   one: `ConfigError`, exit 2);
5. writes the metrics file when ``metrics.file`` is set, whatever the outcome.

``dry_run`` runs the very same code path against a view of the ledger whose every transaction
is nested in one outer transaction that is rolled back at the end, and delivers nothing: the
result says what would have changed and what would have been sent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import structlog

from connector.clock import Clock, SystemClock, local_date
from connector.ledger import outbox as outbox_table
from connector.ledger.db import Ledger, open_ledger, rolled_back
from connector.ledger.scope import use_source, writing_as
from connector.mapping.spec import MappingSpec, load_mapping
from connector.ops.locking import run_lock
from connector.ops.log import bind_run, new_run_id
from connector.ops.metrics import export_metrics
from connector.ops.progress import ProgressReporter, make_progress
from connector.ops.runs import RunOutcome, RunRecord, default_trigger, outcome_for, recorded_run
from connector.ops.signals import InterruptGuard, interrupt_guard
from connector.outbox.delivery import PushResult, deliver_pending
from connector.outbox.states import DELIVERABLE
from connector.rules.calendar import calendar_for
from connector.settings import Settings
from connector.source.pull import ClientFactory, PullResult, default_client, pull
from connector.source.transport import TokenBucket, pace_for

if TYPE_CHECKING:
    from connector.i18n import Lang
    from connector.notify.addressbook import AddressBook
    from connector.outbox.channels import Channels
    from connector.source.client import SourceClient

log = structlog.get_logger(__name__)

Command = Literal["pull", "push", "sync"]

RETRY_COUNTS = ("push_retries", "retries", "rate_limited", "waited_s")
"""The delivery client's counts that an aborted delivery still records."""


@dataclass(frozen=True)
class PlannedDelivery:
    """An outbox row a dry run would have delivered."""

    key: str
    kind: str
    task_id: int | None
    alert_type: str
    recipients: tuple[str, ...]


@dataclass
class JobResult:
    """What a run did (or, with ``dry_run``, would have done)."""

    run_id: str
    command: Command
    outcome: RunOutcome = RunOutcome.RUNNING
    dry_run: bool = False
    pull: PullResult | None = None
    push: PushResult | None = None
    would_deliver: list[PlannedDelivery] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 success, 1 finished with problems (errors raise and map to their own codes)."""
        return 0 if self.outcome is RunOutcome.SUCCESS else 1

    def counts(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {}
        if self.pull is not None:
            out.update(self.pull.counts())
        if self.push is not None:
            for name, value in self.push.counts().items():
                # retries, rate_limited, waited_s: the pull's and the delivery's, added up
                out[name] = out.get(name, 0) + value
        return out


def _pending_deliveries(ledger: Ledger) -> list[PlannedDelivery]:
    return [
        PlannedDelivery(
            key=row.idempotency_key,
            kind=row.kind,
            task_id=row.task_id,
            alert_type=row.alert_type,
            recipients=tuple(str(r) for r in row.payload.get("recipients", ())),
        )
        for row in outbox_table.in_states(ledger, DELIVERABLE)
    ]


def _alerts_today(settings: Settings, clock: Clock) -> bool:
    """Whether alerts may be delivered now (``alerts.hold_on_non_working_days``)."""
    if not settings.alerts.enabled:
        return False
    if not settings.alerts.hold_on_non_working_days:
        return True
    return calendar_for(settings.calendar).is_working_day(local_date(clock.now()))


def _route(settings: Settings, ledger: Ledger, run_id: str, clock: Clock) -> dict[str, int]:
    """Route the pending alerts to their channels and make the day's digests (counts)."""
    from connector.outbox.planning import units_by_code  # noqa: PLC0415
    from connector.outbox.routing import build_digests, route_alerts  # noqa: PLC0415

    if not _alerts_today(settings, clock):
        return {}
    now = clock.now()
    routed = route_alerts(ledger, settings, units=units_by_code(ledger), run_id=run_id, now=now)
    if settings.delivery.uses("email"):
        build_digests(ledger, day=local_date(now), run_id=run_id, now=now, result=routed)
    return routed.counts()


def _channels(
    settings: Settings, book: AddressBook | None, stack: contextlib.ExitStack
) -> Channels:
    """The senders of the e-mail and webhook channels in use (closed with `stack`)."""
    from connector.outbox.channels import Channels  # noqa: PLC0415

    email = webhook = None
    if settings.delivery.uses("email"):
        from connector.notify.smtp import SmtpSender  # noqa: PLC0415

        email = SmtpSender(settings.email)
        stack.callback(email.close)
    if settings.delivery.uses("webhook"):
        from connector.notify.webhook import WebhookSender  # noqa: PLC0415

        webhook = WebhookSender(settings.webhook)
        stack.callback(webhook.close)
    return Channels(email=email, webhook=webhook, book=book)


def _deliver(
    settings: Settings,
    ledger: Ledger,
    run_id: str,
    clock: Clock,
    *,
    dry_run: bool,
    sleep: Callable[[float], None],
    client_factory: ClientFactory,
    guard: InterruptGuard,
    record: RunRecord,
    progress: ProgressReporter | None = None,
    book: AddressBook | None = None,
    budget: TokenBucket | None = None,
) -> PushResult:
    """Deliver in order of priority: the e-mail and webhook rows (alerts, few), then the rows
    for the source, its alerts before its bulk tracking writes (`deliver_pending`)."""
    result = PushResult(dry_run=dry_run)
    result.held = outbox_table.held_count(ledger)
    if result.held:
        log.warning("delivery_held", run_id=run_id, rows=result.held, reason="record_quarantined")
    channels_used = settings.delivery.uses("email") or settings.delivery.uses("webhook")
    if channels_used and _alerts_today(settings, clock):
        from connector.outbox.channels import deliver_channels  # noqa: PLC0415
        from connector.outbox.planning import units_by_code  # noqa: PLC0415

        with contextlib.ExitStack() as stack:
            channels = _channels(settings, book, stack)
            deliver_channels(
                ledger,
                channels,
                settings,
                clock,
                result,
                units=units_by_code(ledger),
                dry_run=dry_run,
                guard=guard,
            )
        log.info(
            "channels_finished",
            run_id=run_id,
            digests_sent=result.digests_sent,
            webhooks_sent=result.webhooks_sent,
            resent_in_doubt=result.resent_in_doubt,
        )
    channel_counts = result.counts()
    try:
        return _deliver_to_source(
            settings,
            ledger,
            run_id,
            clock,
            dry_run=dry_run,
            sleep=sleep,
            client_factory=client_factory,
            guard=guard,
            record=record,
            progress=progress,
            result=result,
            budget=budget,
        )
    except BaseException:
        # What the channels delivered before the source's delivery was aborted still counts.
        record.add({k: v for k, v in channel_counts.items() if v and k not in RETRY_COUNTS})
        raise


def _deliver_to_source(
    settings: Settings,
    ledger: Ledger,
    run_id: str,
    clock: Clock,
    *,
    dry_run: bool,
    sleep: Callable[[float], None],
    client_factory: ClientFactory,
    guard: InterruptGuard,
    record: RunRecord,
    progress: ProgressReporter | None = None,
    result: PushResult,
    budget: TokenBucket | None = None,
) -> PushResult:
    if not (settings.push.tracking_status or settings.delivery.uses("source")):
        return result  # nothing goes to the source: no login either
    spec = load_mapping(settings.source.mapping)
    missing = [name for name in ("tracking", "notify") if not spec.has_endpoint(name)]
    if missing:
        # e.g. mappings/idesk6.toml: a read-only dialect. Rows stay pending in the outbox.
        log.warning(
            "push_unsupported_by_mapping",
            mapping=settings.source.mapping,
            missing_endpoints=missing,
            hint=(
                "set push.tracking_status = false and deliver alerts by e-mail or webhook "
                "(delivery.channels) for a read-only source"
            ),
        )
        return result
    if budget is not None:  # the run's one budget for the source, at the delivery's rate
        budget.set_rate(pace_for(settings.push.rate_per_second))
    with client_factory(settings, spec, sleep) as client:
        try:
            deliver_pending(
                ledger,
                client,
                settings,
                run_id,
                clock,
                dry_run=dry_run,
                bucket=budget,
                guard=guard,
                progress=progress,
                result=result,
            )
        except BaseException:
            # An aborted delivery (credentials refused, interrupted) still counts its retries.
            aborted = PushResult(dry_run=dry_run)
            aborted.add_client_stats(client.stats)
            record.add({k: aborted.counts()[k] for k in RETRY_COUNTS})
            raise
        result.add_client_stats(client.stats)
        return result


def _paced(factory: ClientFactory, budget: TokenBucket) -> ClientFactory:
    """`factory`, each of whose clients is paced by `budget`."""

    def make(settings: Settings, spec: MappingSpec, sleep: Callable[[float], None]) -> SourceClient:
        client = factory(settings, spec, sleep)
        client.pace(budget)
        return client

    return make


def run_job(
    settings: Settings,
    command: Command,
    *,
    full: bool = False,
    dry_run: bool = False,
    wait_s: float = 0.0,
    trigger: str | None = None,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client_factory: ClientFactory = default_client,
    progress: ProgressReporter | None = None,
    run_id: str | None = None,
    lang: Lang | None = None,
    source: str = "",
) -> JobResult:
    """Run `command` once, as the module docstring describes; raise the library's errors.

    `source`: one source of a ``[[sources]]`` config (``settings.source`` is that source,
    `Settings.for_source`): its own lock (`connector.ops.locking`), and the ledger rows written
    and read are that source's (`connector.ledger.scope.use_source`).

    `progress` (default: bars on a terminal, `make_progress`) is finished before this returns
    or raises, so what the caller prints next never lands on a bar.
    """
    clock = clock or SystemClock()
    run_id = run_id or new_run_id()
    bind_run(run_id, command=command)
    # One pacing budget for the source, shared by every client and thread of the run: the pull
    # at sync.rate_per_second, then the delivery at push.rate_per_second, one schedule and one
    # Retry-After hold for both.
    budget = TokenBucket(pace_for(settings.sync.rate_per_second), sleep=sleep)
    client_factory = _paced(client_factory, budget)
    result = JobResult(run_id=run_id, command=command, dry_run=dry_run)
    shown = progress or make_progress(lang=lang or settings.ui.lang)
    book = None
    if command in ("push", "sync") and settings.push.enabled and settings.delivery.uses("email"):
        from connector.notify.addressbook import load_address_book  # noqa: PLC0415

        book = load_address_book(settings.email)  # validated before any work: exit 2
    # The mapping and the calendar override file too: a broken one stops the run (exit 2)
    # before the ledger is created or opened, so no run record, unit or page is written.
    load_mapping(settings.source.mapping)
    calendar = calendar_for(settings.calendar)
    # SIGTERM/SIGINT become Interrupted (exit 130) from the ledger's opening on: while waiting
    # for the lock (`--wait`) too; once the run records its end they are only noted.
    with interrupt_guard() as guard:
        guard.run_recorded = False  # until `recorded_run` has written the run's start
        ledger = open_ledger(settings.ledger.url)
        try:
            engine = ledger.engine if ledger.backend == "postgresql" else None
            lock = run_lock(
                settings.ledger.url, settings.ledger.lock_file, wait_s, engine=engine, source=source
            )
            with (
                use_source(source) if source else writing_as(settings.source.name),
                lock as held,
                recorded_run(
                    ledger,
                    command,
                    trigger or default_trigger(),
                    run_id,
                    clock,
                    dry_run=dry_run,
                    lock_held=True,  # a run still "running" in the ledger died: marked abandoned
                    guard=guard,
                ) as record,
            ):
                # The lock is checked at the run's safe points: a PostgreSQL advisory lock lost
                # with its session stops the run there (LockLost, exit 74).
                guard.watch(held.check)
                with contextlib.ExitStack() as stack:
                    work = stack.enter_context(rolled_back(ledger)) if dry_run else ledger
                    if command in ("pull", "sync"):
                        result.pull = pull(
                            settings,
                            run_id=run_id,
                            full=full,
                            clock=clock,
                            ledger=work,
                            run=record,
                            sleep=sleep,
                            client_factory=client_factory,
                            guard=guard,
                            progress=shown,
                            calendar=calendar,
                        )
                        record.update(result.pull.counts())
                    if command in ("push", "sync") and settings.push.enabled:
                        record.add(_route(settings, work, run_id, clock))
                        if dry_run:
                            result.would_deliver = _pending_deliveries(work)
                        result.push = _deliver(
                            settings,
                            work,
                            run_id,
                            clock,
                            dry_run=dry_run,
                            sleep=sleep,
                            client_factory=client_factory,
                            guard=guard,
                            record=record,
                            progress=shown,
                            book=book,
                            budget=budget,
                        )
                        record.add(result.push.counts())
                guard.check()  # still ours at the end, or the run is not a success
                result.outcome = outcome_for(None, record.counts)
        finally:
            guard.stand_down()  # finishing: a signal now changes nothing of the run
            shown.finish()
            if settings.metrics.file:
                try:
                    export_metrics(ledger, settings.metrics.file, clock.now())
                except Exception as exc:  # metrics must never fail the run
                    log.error("metrics_failed", path=settings.metrics.file, error=str(exc))
            ledger.close()
    return result
