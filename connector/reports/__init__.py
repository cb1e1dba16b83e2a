"""Report: the Working Group's per-agency summary and its annexes.

- `model`: the options (period, unit, denominator, fold) and the `Report` itself;
- `build`: the rules that fill it from classified tasks (`build_report`), and the edge that
  feeds it from the ledger (`report_current`, `report_as_of`);
- `render/`: one module per output format (table, JSON, CSV, Markdown, HTML, Excel), chosen
  by name in `render.formats`.
"""
