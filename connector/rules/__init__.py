"""Classify: the rules of the deadline status, and their application to the ledger.

The rules are pure functions of a task, a date and the calendar:

- `calendar`: working days (Vietnamese holidays, swaps; ``data/calendar-overrides.toml``);
- `deadlines`: the deadline status and flags of a task (`classify`, `DeadlinePolicy`);
- `phrases`: a deadline read from the text of an assignment (`suggest_deadline`), with
  `phrase_layout` telling what surrounds a phrase (whose action, a cited title, a past event);
- `alerts`: which alerts are due and their text (``templates/alerts.{vi,en}.toml``);
- `recheck`: the first date an unchanged task's verdict can change by the date alone
  (`recheck_after`), so that a run judges again only the tasks whose verdict can have changed.

`classify` applies them to every task of the ledger after a pull (`reclassify`), writing only
what changed.
"""
