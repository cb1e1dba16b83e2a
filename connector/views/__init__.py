"""What the commands show: read models, and the one presentation of each as JSON and as text.

Read models (typed results; they only read):

- `tasks`: the rows of ``tasks list`` and one task as ``tasks show`` presents it
  (classification, suggestion, history, as of a date);
- `listings`: ``quarantine list``, ``outbox list``, ``runs list``, ``alerts preview`` and
  ``calendar``;
- `status`: the ``status`` summary (runs, cursor, outbox, quarantine, tasks, ledger);
- `check`: the steps of ``check`` (configuration, mapping, ledger, reaching the source, login).

Presentation: `shapes` turns every result (a run's `JobResult` included) into its documented
``--format json`` shape, `text` into what a person reads on a terminal. `cli.py` parses options,
calls one of the read models and prints what `shapes` or `text` make of it.
"""
