"""Plan and deliver: every intent to write to the source, recorded before it is sent.

An intent (a tracking-status update or an alert) becomes an ``outbox`` row in the same
transaction as the ledger change that caused it; delivery then sends the rows, each with its own
idempotency key, so a crash anywhere loses nothing and the source never acts twice.

- `states`: the state machine (``pending → sending → sent``, ``failed``, ``dead``, ``past``,
  ``superseded``) and the steps a row may take;
- `keys`: the idempotency key scheme and the stored request bodies;
- `planning`: which rows a task calls for (`plan`, `plan_all`, `preview_alerts`);
- `actions`: what an operator does (`list_outbox`, `retry_row`, `retry_dead`);
- `delivery`: sending the rows, reconciling those that may have reached the source
  (`deliver_pending`).
"""
