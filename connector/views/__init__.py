"""What the CLI shows: the read models and presenters behind the inspection commands.

- `tasks`: a task as ``tasks show`` presents it (classification, suggestion, history, as of a
  date), and the rows of ``tasks list``, ``quarantine list`` and ``outbox list`` as JSON;
- `status`: the ``status`` summary (runs, cursor, outbox, quarantine, ledger) as a table or JSON,
  and a run as ``runs list`` shows it;
- `check`: the steps of ``check`` (configuration, mapping, ledger, reaching the source, login).

`cli.py` parses options, calls the library and renders with these; none of them writes.
"""
