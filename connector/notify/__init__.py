"""Channels other than the source: where alerts go when the source takes no writes.

- `addressbook`: the units' e-mail addresses (a TOML or CSV file, or a command that prints one),
  validated at start-up;
- `digest`: one unit's alerts of one day as one e-mail (plain text and HTML, formal Vietnamese);
- `smtp`: sending it (STARTTLS or implicit TLS, login, verified certificates);
- `webhook`: a signed JSON POST per alert to the province's own gateway (docs/webhook.md).

Which rows these channels deliver, and how each reaches its recipients exactly once as far as
the channel allows, is the outbox's (`connector.outbox.routing`, `connector.outbox.channels`).
"""
