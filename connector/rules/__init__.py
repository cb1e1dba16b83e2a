"""The rules: how a task is classified and what it calls for (pure functions, no I/O).

- `calendar`: working days (Vietnamese holidays, swaps; ``data/calendar-overrides.toml``);
- `deadlines`: the deadline status and flags of a task (`classify`, `DeadlinePolicy`);
- `phrases`: a deadline read from the text of an assignment (`suggest_deadline`);
- `alerts`: which alerts are due and their text (``templates/alerts.{vi,en}.toml``).
"""
