#!/usr/bin/env bash
# Checks docs/install.md by doing what it says, literally, in a throwaway prefix.
#
#   bash docs/install-check.sh [--root DIR] [--create-user] [--keep]
#
# Every block of the guide marked `sh install` is run, and every block marked
# `install-file=PATH` is written, in order, with each system path the guide uses moved under
# ROOT (/opt/idesk-connector -> $ROOT/opt/idesk-connector, …): the real /etc, /opt and /var are
# never touched. The source is the connector's built-in simulator on a free loopback port,
# started from the installed program as soon as the guide has installed it. Then the check:
# owners and modes, no development tools in the environment, no secret in the logs or the
# ledger, the cron jobs and the systemd services' commands run as cron and systemd would,
# `systemd-analyze verify` on the units, `logrotate` on the snippet (and a forced rotation),
# `db backup` against a held lock, a `db downgrade`/`db upgrade` round trip, and the reports.
#
# --create-user (root only): create the system user `idesk` as the guide says (removed again at
# the end when this check created it), and run the connector as that user. Without it, the
# connector runs as the current user, which replaces `idesk` (and root's ownership) throughout.
# --root DIR: where to install (a new or empty directory; default: a new /tmp/idesk-install-check.*).
# --keep: leave ROOT in place (it is also left when a check failed).
#
# Needs: bash, python3 >= 3.11 with venv, the Python package index (the guide builds its wheels)
# or, offline, a wheelhouse of the dependencies and build tools named by pip's own environment
# (PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR, as `make test` does with `make wheelhouse`), and optionally logrotate and systemd-analyze (their checks are skipped,
# and said to be, when missing). The last line is "install-check: N passed, N failed, N skipped".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
GUIDE="$HERE/install.md"
BLOCKS="$HERE/install_blocks.py"
ROOT=""
CREATE_USER=0
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --create-user) CREATE_USER=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# The PATH of a root shell on a server: the guide's `python3` is the system's.
export PATH=${INSTALL_CHECK_PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
export LANG=C.UTF-8

if [ -z "$ROOT" ]; then
  ROOT=$(mktemp -d /tmp/idesk-install-check.XXXXXX)
else
  case "$ROOT" in /*) ;; *) echo "--root must be an absolute path" >&2; exit 2 ;; esac
  if [ "$ROOT" = "/" ] || { [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; }; then
    echo "--root $ROOT must be a new or empty directory" >&2; exit 2
  fi
  mkdir -p "$ROOT"
fi
ROOT=${ROOT%/}
chmod 0755 "$ROOT"
LOG="$ROOT/install-check.log"
: >"$LOG"

PASSED=0; FAILED=0; SKIPPED=0
SUMMARY=()
pass() { PASSED=$((PASSED + 1)); SUMMARY+=("PASS  $*"); echo "PASS  $*" >>"$LOG"; }
fail() { FAILED=$((FAILED + 1)); SUMMARY+=("FAIL  $*"); echo "FAIL  $*" >>"$LOG"; }
skip() { SKIPPED=$((SKIPPED + 1)); SUMMARY+=("SKIP  $*"); echo "SKIP  $*" >>"$LOG"; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds; its output goes to the log.
check() {
  local what=$1; shift
  echo "--- $what: $*" >>"$LOG"
  if "$@" >>"$LOG" 2>&1; then pass "$what"; else fail "$what (exit $?)"; fi
}

# --- who runs the connector ----------------------------------------------------------------
CREATED_USER=0
if [ "$CREATE_USER" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then echo "--create-user needs root" >&2; exit 2; fi
  MODE=service; SVC_USER=idesk; SVC_GROUP=idesk; ROOT_USER=root; ROOT_GROUP=root
  # One check at a time creates and removes the user on this machine.
  exec 9>/tmp/idesk-install-check.user.lock
  if ! flock -w 1800 9; then echo "another install check holds /tmp/idesk-install-check.user.lock" >&2; exit 1; fi
  # A user left by an earlier check that was killed before its clean-up (its home, a
  # temporary root, is gone) is removed and created afresh.
  LEFT_HOME=$(getent passwd idesk | cut -d: -f6)
  case "$LEFT_HOME" in
    /tmp/idesk-install-check.*) [ -d "$LEFT_HOME" ] || userdel idesk >>"$LOG" 2>&1 ;;
  esac
  id -u idesk >/dev/null 2>&1 || CREATED_USER=1
else
  MODE=current; SVC_USER=$(id -un); SVC_GROUP=$(id -gn)
  ROOT_USER=$SVC_USER; ROOT_GROUP=$SVC_GROUP
fi
# As the service user (service mode, or the current user).
as_service() {
  if [ "$MODE" = service ]; then runuser -u "$SVC_USER" -- "$@"; else "$@"; fi
}

SIM_PID=""
cleanup() {
  if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null; fi
  if [ "$CREATED_USER" = 1 ] && id -u idesk >/dev/null 2>&1; then
    userdel idesk >>"$LOG" 2>&1 || echo "could not remove the user idesk" >&2
  fi
  if [ "$KEEP" = 0 ] && [ "$FAILED" = 0 ]; then rm -rf "$ROOT"; fi
}
trap cleanup EXIT

# --- prerequisites (section 1 of the guide) -------------------------------------------------
if ! python3 -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>>"$LOG"; then
  fail "python3 >= 3.11 with venv on PATH ($PATH): apt-get install python3 python3-venv"
  printf '%s\n' "${SUMMARY[@]}"
  echo "install-check: $PASSED passed, $FAILED failed, $SKIPPED skipped"
  exit 1
fi
VERSION=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO/pyproject.toml")
if grep -q "wheelhouse-$VERSION " "$GUIDE"; then
  pass "the guide installs the checkout's version $VERSION"
else
  fail "the guide does not install version $VERSION (pyproject.toml): update its version numbers"
fi

# The system's directories, as a fresh server has them.
for dir in opt etc etc/cron.d etc/systemd/system etc/logrotate.d var var/lib var/log var/backups work; do
  mkdir -p -m 0755 "$ROOT/$dir"
done
# The administrator's working directory holds the release's source tree, ./idesk-connector.
WORK="$ROOT/work"
mkdir -p "$WORK/idesk-connector"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
     | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
     | tar --null -T - -cf -) | tar -xf - -C "$WORK/idesk-connector"
else
  (cd "$REPO" && tar --exclude=./.venv --exclude=./.wheelhouse --exclude=./demo -cf - .) | tar -xf - -C "$WORK/idesk-connector"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SIM_URL="http://127.0.0.1:$PORT/ubnd/smartcloud"
PASSWORD=demo-password
BIN="$ROOT/opt/idesk-connector/bin/idesk-connector"
CONFIG="$ROOT/etc/idesk-connector/config.toml"

start_simulator() {
  "$BIN" simulator serve --port "$PORT" --tasks 300 --seed 1 --malformed 0 --lang en --today "$(date -u +%F)" \
    >"$ROOT/simulator.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 1 300); do
    if grep -q "Base URL" "$ROOT/simulator.log" 2>/dev/null; then
      pass "simulator started from the installed program on 127.0.0.1:$PORT"
      return 0
    fi
    sleep 0.1
  done
  fail "simulator did not start (see $ROOT/simulator.log)"
  return 1
}

# --- the guide's steps, in order --------------------------------------------------------------
STEPS="$ROOT/steps"
if python3 "$BLOCKS" extract "$GUIDE" "$STEPS" --root "$ROOT" --mode "$MODE" \
     --user "$SVC_USER" --group "$SVC_GROUP" \
     --replace "https://idesk.example.gov.vn/ubnd/smartcloud" "$SIM_URL" \
     --replace 'username = "connector"' 'username = "demo"' \
     --replace "REPLACE-WITH-THE-PASSWORD" "$PASSWORD" >>"$LOG" 2>&1; then
  pass "guide's blocks extracted ($(wc -l <"$STEPS/manifest") steps, mode $MODE, user $SVC_USER)"
else
  fail "guide's blocks could not be extracted (see $LOG)"
fi

# A step's first command, shorter and without the prefix, for the summary.
step_title() {
  local first
  first=$(grep -v '^: skipped' "$1" | head -n1)
  [ -n "$first" ] || first="($(head -n1 "$1" | sed 's/^: //'))"
  printf '%s' "${first//"$ROOT"/}" | cut -c1-90
}

STEPS_OK=1
while IFS=$'\t' read -r number kind line target; do
  [ "$STEPS_OK" = 1 ] || break
  if [ -z "$SIM_PID" ] && [ -x "$BIN" ]; then start_simulator || { STEPS_OK=0; break; }; fi
  if [ "$kind" = file ]; then
    echo "--- step $number (docs/install.md line $line): write $target" >>"$LOG"
    if [ ! -e "$target" ]; then
      fail "step $number (line $line): the guide writes $target before creating it with its mode"
      STEPS_OK=0
    elif cat "$STEPS/$number.file" >"$target"; then
      pass "step $number (line $line): wrote ${target#"$ROOT"}"
    else
      fail "step $number (line $line): cannot write $target"; STEPS_OK=0
    fi
  else
    echo "--- step $number (docs/install.md line $line):" >>"$LOG"
    sed 's/^/    $ /' "$STEPS/$number.sh" >>"$LOG"
    not_run=$(grep -c '^: skipped' "$STEPS/$number.sh")
    if ! grep -v '^: skipped' "$STEPS/$number.sh" | grep -q '[^[:space:]]'; then
      skip "step $number (line $line): $(step_title "$STEPS/$number.sh")"
    elif (cd "$WORK" && bash -e -o pipefail "$STEPS/$number.sh") >>"$LOG" 2>&1; then
      pass "step $number (line $line): $(step_title "$STEPS/$number.sh")$([ "$not_run" -gt 0 ] && echo " [$not_run systemctl line(s) not run here]")"
    else
      fail "step $number (line $line) failed (see $LOG)"; STEPS_OK=0
    fi
  fi
done <"$STEPS/manifest"

# --- what the installation must look like ---------------------------------------------------
expect() {  # expect PATH MODE OWNER GROUP
  local path="$ROOT$1" got
  got=$(stat -c '%a %U %G' "$path" 2>/dev/null) || { fail "$1 exists"; return; }
  if [ "$got" = "$2 $3 $4" ]; then pass "$1 is $2 $3:$4"; else fail "$1 is $got, expected $2 $3 $4"; fi
}

if [ "$STEPS_OK" = 1 ]; then
  expect /opt/idesk-connector 755 "$ROOT_USER" "$ROOT_GROUP"
  expect /etc/idesk-connector 750 "$ROOT_USER" "$SVC_GROUP"
  expect /etc/idesk-connector/config.toml 600 "$SVC_USER" "$SVC_GROUP"
  expect /etc/idesk-connector/secrets.toml 600 "$SVC_USER" "$SVC_GROUP"
  expect /var/lib/idesk-connector 700 "$SVC_USER" "$SVC_GROUP"
  expect /var/lib/idesk-connector/ledger.db 600 "$SVC_USER" "$SVC_GROUP"
  expect /var/lib/idesk-connector/ledger.db.lock 600 "$SVC_USER" "$SVC_GROUP"
  expect /var/log/idesk-connector 750 "$SVC_USER" "$SVC_GROUP"
  expect /var/log/idesk-connector/connector.log 600 "$SVC_USER" "$SVC_GROUP"
  expect /var/backups/idesk-connector 700 "$SVC_USER" "$SVC_GROUP"
  expect /var/backups/idesk-connector/manual.db 600 "$SVC_USER" "$SVC_GROUP"
  expect /var/backups/idesk-connector/before-upgrade.db 600 "$SVC_USER" "$SVC_GROUP"
  expect /var/backups/idesk-connector/before-rollback.db 600 "$SVC_USER" "$SVC_GROUP"
  expect /etc/cron.d/idesk-connector 644 "$ROOT_USER" "$ROOT_GROUP"
  for unit in idesk-connector.service idesk-connector.timer idesk-connector-backup.service idesk-connector-backup.timer; do
    expect "/etc/systemd/system/$unit" 644 "$ROOT_USER" "$ROOT_GROUP"
  done
  expect /etc/logrotate.d/idesk-connector 644 "$ROOT_USER" "$ROOT_GROUP"

  PY="$ROOT/opt/idesk-connector/bin/python"
  check "no development tools in /opt/idesk-connector (pytest, ruff, mypy, hypothesis, responses)" \
    "$PY" -c 'import importlib.util, sys; found = [m for m in ("pytest", "ruff", "mypy", "hypothesis", "responses") if importlib.util.find_spec(m)]; print(found); sys.exit(bool(found))'
  check "pip check: the environment's dependencies are consistent" "$ROOT/opt/idesk-connector/bin/pip" check
  check "installed as a regular package, not an editable checkout" \
    "$PY" -I -c 'import sys, connector; print(connector.__file__); sys.exit(not connector.__file__.startswith(sys.prefix))'

  connector() { (cd "$ROOT/var/lib/idesk-connector" && as_service "$BIN" --config "$CONFIG" "$@"); }
  schema_is() { connector db current --format json | tee -a "$LOG" | grep -q "\"state\": \"$1\""; }

  # The cron jobs and the systemd services' commands, run as cron and systemd would.
  check "cron: every job of /etc/cron.d/idesk-connector runs as its user field says" \
    python3 "$BLOCKS" run-cron "$ROOT/etc/cron.d/idesk-connector"
  check "systemd: idesk-connector.service's ExecStart succeeds" \
    python3 "$BLOCKS" run-unit "$ROOT/etc/systemd/system/idesk-connector.service"
  check "systemd: idesk-connector-backup.service's ExecStart succeeds" \
    python3 "$BLOCKS" run-unit "$ROOT/etc/systemd/system/idesk-connector-backup.service"
  expect /var/backups/idesk-connector/ledger.db 600 "$SVC_USER" "$SVC_GROUP"
  check "systemd: the sync unit waits for the network (Wants= and After=network-online.target)" \
    grep -qzP 'Wants=network-online.target\nAfter=network-online.target' "$ROOT/etc/systemd/system/idesk-connector.service"
  if command -v systemd-analyze >/dev/null 2>&1; then
    verify_out=$(cd "$ROOT/etc/systemd/system" && systemd-analyze verify ./idesk-connector.service ./idesk-connector.timer ./idesk-connector-backup.service ./idesk-connector-backup.timer 2>&1)
    verify_rc=$?
    echo "--- systemd-analyze verify: rc $verify_rc" >>"$LOG"; echo "$verify_out" >>"$LOG"
    if [ "$verify_rc" = 0 ] && [ -z "$verify_out" ]; then
      pass "systemd-analyze verify: the four units are clean"
    else
      fail "systemd-analyze verify: $(echo "$verify_out" | head -n3)"
    fi
  else
    skip "systemd-analyze not installed: the units were not verified (their ExecStart ran above)"
  fi

  # Log rotation: a forced rotation, then the next run writes a new 0600 log.
  if command -v logrotate >/dev/null 2>&1; then
    check "logrotate -f rotates /var/log/idesk-connector/*.log" \
      logrotate -f -s "$ROOT/logrotate.state" "$ROOT/etc/logrotate.d/idesk-connector"
    check "rotated: connector.log.1 and cron.log.1 exist" \
      test -f "$ROOT/var/log/idesk-connector/connector.log.1" -a -f "$ROOT/var/log/idesk-connector/cron.log.1"
    check "after rotation a run writes its log again" connector sync --wait 60
    expect /var/log/idesk-connector/connector.log 600 "$SVC_USER" "$SVC_GROUP"
    check "the new connector.log holds the run's run_finished event" grep -q '"event": "run_finished"' "$ROOT/var/log/idesk-connector/connector.log"
  else
    skip "logrotate not installed (apt-get install logrotate): the snippet was not run"
  fi

  # db backup against a run holding the lock: exit 75 at once, or a wait that succeeds.
  LOCK="$ROOT/var/lib/idesk-connector/ledger.db.lock"
  held_rc=$(as_service flock "$LOCK" "$BIN" --config "$CONFIG" db backup "$ROOT/var/backups/idesk-connector/held.db" >>"$LOG" 2>&1; echo $?)
  # flock runs the backup while holding the lock itself, so the backup finds it held.
  if [ "$held_rc" = 75 ] && [ ! -e "$ROOT/var/backups/idesk-connector/held.db" ]; then
    pass "db backup while a run holds the lock: exit 75, no file"
  else
    fail "db backup while a run holds the lock: exit $held_rc (expected 75)"
  fi
  as_service flock "$LOCK" sleep 2 &
  holder=$!
  sleep 0.5
  check "db backup --wait 60 waits for the lock, then copies" \
    connector db backup "$ROOT/var/backups/idesk-connector/waited.db" --wait 60
  wait "$holder"
  check "the backup passes integrity_check and is one file (journal_mode delete)" \
    "$PY" -c 'import sqlite3, sys; c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True); r = (c.execute("PRAGMA integrity_check").fetchone()[0], c.execute("PRAGMA journal_mode").fetchone()[0]); print(r); sys.exit(r != ("ok", "delete"))' \
    "$ROOT/var/backups/idesk-connector/waited.db"
  expect /var/backups/idesk-connector/waited.db 600 "$SVC_USER" "$SVC_GROUP"

  # The schema round trip: down to 0001, the read-only commands refuse it, back up to the head.
  check "db downgrade --to 0001" connector db downgrade --to 0001 --wait 60
  check "db current says the ledger is older" schema_is older
  status_rc=$(connector status >>"$LOG" 2>&1; echo $?)
  if [ "$status_rc" = 2 ]; then pass "status refuses the older schema (exit 2)"; else fail "status on the older schema: exit $status_rc (expected 2)"; fi
  check "db upgrade brings it back" connector db upgrade --wait 60
  check "db current says it is current" schema_is current
  check "sync after the round trip" connector sync --wait 60

  # The installed wheel holds what the reports need (templates, renderers' libraries).
  check "report (table) from the installed program" connector report
  for format in xlsx docx html; do
    check "report --format $format from the installed program" \
      connector report --format "$format" --output "$ROOT/var/lib/idesk-connector/report.$format"
  done

  # The secret stays out of the logs, the ledger and the backups.
  if grep -rqa -- "$PASSWORD" "$ROOT/var"; then
    fail "the password appears under /var: $(grep -rla -- "$PASSWORD" "$ROOT/var" | head -n3 | tr '\n' ' ')"
  else
    pass "the password appears nowhere in /var (logs, ledger, backups)"
  fi
else
  fail "the guide's steps did not all run: the installation was not checked"
fi

printf '%s\n' "${SUMMARY[@]}"
echo "log: $LOG$([ "$KEEP" = 0 ] && [ "$FAILED" = 0 ] && echo ' (removed with ROOT)')"
echo "install-check: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
