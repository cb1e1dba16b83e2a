"""Running the connector: what every run needs around the pipeline.

- `jobs`: one pull / push / sync run with its lock, signals, recording and metrics (`run_job`);
- `locking`: the run lock (a kernel lock file, plus an advisory lock on PostgreSQL);
- `signals`: SIGINT/SIGTERM turned into `Interrupted` at a safe point;
- `runs`: the run records in the ledger (`runs list`, abandoned runs);
- `metrics`: the Prometheus textfile;
- `progress`: progress lines on a terminal;
- `log`: structlog configuration, redaction of secrets, terminal-safe text;
- `faultpoints`: crash points, test hooks that kill the process at a chosen step.
"""
