"""Pull: everything that talks to the source and reads its records into the ledger.

- `transport`: one HTTP exchange with its deadline and size cap (urllib3);
- `http`: classifying answers, retries with backoff, the request pace, redaction;
- `client`: `SourceClient`, the source's endpoints as a mapping describes them (login, search,
  detail, view, tracking, notifications, units);
- `pagination`: the paging styles (offset, page, cursor token, Link header) and the live-list
  checks;
- `paths`: the source-path language (``proInfos[responsibility=main].deadline``);
- `pull`: one pull run, page by page into the ledger, then classification (`pull`).
"""
