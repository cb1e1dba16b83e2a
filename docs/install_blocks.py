"""The tested blocks of docs/install.md, for docs/install-check.sh (and the tests).

The guide marks what the check runs:

- a fenced block whose info string is ``sh install`` holds commands, run in order;
- a fenced block whose info string ends with ``install-file=PATH`` holds the content of PATH.

`extract` turns them into numbered step files, each rewritten for a throwaway prefix: the
system paths the guide writes (``/opt/idesk-connector``, ``/etc/idesk-connector``, …) get the
prefix ``--root`` in front, the placeholders (the source's URL, the account, the password) are
replaced as ``--replace`` says, and, when the check does not run as the system user ``idesk``
(``--mode current``), that user and its group become the current user's. Lines the check cannot
run here are kept as comments saying why: ``systemctl`` (no systemd manager in a container or a
CI job; the units are verified with ``systemd-analyze verify`` and their commands run instead),
and ``useradd`` in ``--mode current``.

`run-cron` runs each job of a ``/etc/cron.d`` file as cron would (its user field, ``/bin/sh``,
the file's environment lines, the user's home as working directory, ``\\%`` unescaped), and
`run-unit` runs a systemd service's ``ExecStart`` as systemd would (``User``/``Group``,
``WorkingDirectory``, ``Environment``, ``UMask``, ``SuccessExitStatus``). Both print one line
per command and exit 1 when one failed.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "idesk"
"""The system user the guide creates and runs the connector as."""

SYSTEM_PATHS = (
    "/opt/idesk-connector-wheels",
    "/opt/idesk-connector",
    "/etc/idesk-connector",
    "/var/lib/idesk-connector",
    "/var/log/idesk-connector",
    "/var/backups/idesk-connector",
    "/etc/cron.d",
    "/etc/systemd/system",
    "/etc/logrotate.d",
)
"""Every system path the guide writes to; the check puts each under its throwaway prefix."""

_PATHS = re.compile(
    r"(?<![\w.-])(" + "|".join(re.escape(p) for p in SYSTEM_PATHS) + r")(?=[/\s\"'*]|$)",
    re.MULTILINE,
)
_FENCE = re.compile(r"^```(\S*)\s*(.*)$")
_USER_WORD = re.compile(rf"(?<![\w./-]){SYSTEM_USER}(?![\w.-])")


@dataclass(frozen=True)
class Block:
    """A tested block of the guide: commands (``path`` empty) or the content of ``path``."""

    line: int
    lang: str
    path: str
    body: str

    @property
    def is_file(self) -> bool:
        return bool(self.path)


def blocks(text: str) -> list[Block]:
    """The ``sh install`` and ``install-file=PATH`` blocks of a guide, in order."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        lang, info = match.group(1), match.group(2).split()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(lines[i + 1 : end]) + "\n"
        path = next((w.split("=", 1)[1] for w in info if w.startswith("install-file=")), "")
        if path or (lang == "sh" and "install" in info):
            found.append(Block(i + 1, lang, path, body))
        i = end + 1
    return found


def normalised(block: Block) -> str:
    """A block without its comments and blank lines: what two translations must share."""
    kept = []
    for line in block.body.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        kept.append(re.sub(r"\s+#\s.*$", "", line).rstrip())
    return "\n".join(kept)


@dataclass(frozen=True)
class Context:
    """How to rewrite the guide for one check run."""

    root: str
    mode: str  # "service": as the system user; "current": as the user running the check
    user: str
    group: str
    replacements: tuple[tuple[str, str], ...] = ()

    @property
    def can_switch_user(self) -> bool:
        return os.getuid() == 0


def _as_current_user(text: str, ctx: Context) -> str:
    """The system user and root's ownership, as the current user and group."""
    text = re.sub(rf"-o (?:root|{SYSTEM_USER})\b", f"-o {ctx.user}", text)
    text = re.sub(rf"-g (?:root|{SYSTEM_USER})\b", f"-g {ctx.group}", text)
    text = re.sub(rf"^(Group=){SYSTEM_USER}$", rf"\g<1>{ctx.group}", text, flags=re.MULTILINE)
    text = re.sub(rf"^(User=){SYSTEM_USER}$", rf"\g<1>{ctx.user}", text, flags=re.MULTILINE)
    text = re.sub(
        rf"^(\s*(?:su|create \d+)) {SYSTEM_USER} {SYSTEM_USER}$",
        rf"\g<1> {ctx.user} {ctx.group}",
        text,
        flags=re.MULTILINE,
    )
    # The user field of a /etc/cron.d line, after the five time fields.
    text = re.sub(
        rf"^((?:\S+\s+){{5}}){SYSTEM_USER}(\s)", rf"\g<1>{ctx.user}\g<2>", text, flags=re.M
    )
    runuser = f"runuser -u {ctx.user} -- " if ctx.can_switch_user else ""
    return re.sub(rf"runuser -u {SYSTEM_USER} -- ", runuser, text)


def rewrite(text: str, ctx: Context) -> str:
    """`text` of the guide as the check runs it (see the module docstring)."""
    for old, new in ctx.replacements:
        text = text.replace(old, new)
    if ctx.mode == "current":
        text = _as_current_user(text, ctx)
    return _PATHS.sub(lambda m: ctx.root + m.group(1), text)


def _command_lines(body: str, ctx: Context) -> Iterator[str]:
    for line in body.splitlines():
        word = line.split(maxsplit=1)[0] if line.strip() else ""
        if word == "systemctl":
            yield f": skipped, no systemd manager here: {line}"
        elif word == "useradd" and ctx.mode == "current":
            yield f": skipped, running as {ctx.user}: {line}"
        elif word == "useradd":
            yield f"id -u {SYSTEM_USER} >/dev/null 2>&1 || {line}"
        else:
            yield line


def unhandled_user(text: str) -> list[str]:
    """Lines that still name the system user after a --mode current rewrite (a guide change
    the check does not know how to run as another user)."""
    return [line for line in text.splitlines() if _USER_WORD.search(line)]


def extract(guide: Path, out: Path, ctx: Context) -> list[str]:
    """Write the guide's steps to `out` (``NN.sh`` / ``NN.file`` and a manifest); the manifest
    lines: ``NN<TAB>sh<TAB>LINE`` or ``NN<TAB>file<TAB>LINE<TAB>TARGET``."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: list[str] = []
    problems: list[str] = []
    for number, block in enumerate(blocks(guide.read_text(encoding="utf-8")), start=1):
        name = f"{number:02d}"
        if block.is_file:
            content = rewrite(block.body, ctx)
            target = rewrite(block.path, ctx)
            (out / f"{name}.file").write_text(content, encoding="utf-8")
            manifest.append(f"{name}\tfile\t{block.line}\t{target}")
        else:
            content = rewrite("\n".join(_command_lines(block.body, ctx)) + "\n", ctx)
            (out / f"{name}.sh").write_text(content, encoding="utf-8")
            manifest.append(f"{name}\tsh\t{block.line}")
        if ctx.mode == "current":
            executed = [ln for ln in content.splitlines() if not ln.startswith(": skipped")]
            problems += [f"line {block.line}: {ln}" for ln in unhandled_user("\n".join(executed))]
    if problems:
        raise SystemExit(
            "the guide names the system user where the check cannot replace it:\n"
            + "\n".join(problems)
        )
    (out / "manifest").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    return manifest


# -- running what cron and systemd would run -----------------------------------------------------


def _account(user: str) -> tuple[int, int, str]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, entry.pw_dir


def _run_as(
    argv: Sequence[str], *, user: str, group: str, cwd: str, env: dict[str, str], umask: int
) -> int:
    """Run `argv` as `user`:`group` (switching only when it is another user), its exit code."""
    uid, _gid, _home = _account(user)
    switch = os.getuid() == 0 and uid != os.getuid()
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env=env,
        check=False,
        umask=umask,
        user=uid if switch else None,
        group=grp.getgrnam(group).gr_gid if switch else None,
        extra_groups=[] if switch else None,
    )
    return result.returncode


def cron_jobs(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The environment lines and the jobs (schedule, user, command) of a /etc/cron.d file."""
    env: dict[str, str] = {}
    jobs: list[tuple[str, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assignment = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", stripped)
        if assignment:
            env[assignment.group(1)] = assignment.group(2)
            continue
        fields = stripped.split(None, 6)
        if len(fields) < 7 or not all(re.fullmatch(r"[0-9*/,-]+", f) for f in fields[:5]):
            raise SystemExit(f"line {number}: not a /etc/cron.d job (5 time fields, user, command)")
        command = fields[6]
        if re.search(r"(?<!\\)%", command):
            raise SystemExit(f"line {number}: an unescaped % (cron reads it as a newline)")
        jobs.append((" ".join(fields[:5]), fields[5], command.replace("\\%", "%")))
    return env, jobs


def run_cron(path: Path) -> int:
    """Run every job of a /etc/cron.d file once, as cron would; 1 when one failed."""
    env_lines, jobs = cron_jobs(path.read_text(encoding="utf-8"))
    failed = 0
    for schedule, user, command in jobs:
        _uid, gid, home = _account(user)
        env = {"HOME": home, "LOGNAME": user, "USER": user, "PATH": "/usr/bin:/bin"}
        env.update({"SHELL": "/bin/sh", **env_lines})
        code = _run_as(
            [env["SHELL"], "-c", command],
            user=user,
            group=grp.getgrgid(gid).gr_name,
            cwd=home,
            env=env,
            umask=0o022,
        )
        failed += code != 0
        verdict = "PASS" if code == 0 else "FAIL"
        sys.stdout.write(f"{verdict} cron job '{schedule}' as {user}: exit {code}\n")
    return 1 if failed else 0


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file's sections and their key/value lines (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        key, _, value = stripped.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def run_unit(path: Path) -> int:
    """Run a oneshot service's ExecStart once, as systemd would; 1 when it failed."""
    service = unit_sections(path.read_text(encoding="utf-8")).get("Service", [])
    values: dict[str, list[str]] = {}
    for key, value in service:
        values.setdefault(key, []).append(value)
    user = values.get("User", ["root"])[-1]
    _uid, gid, home = _account(user)
    group = values.get("Group", [grp.getgrgid(gid).gr_name])[-1]
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": home,
        "USER": user,
        "LOGNAME": user,
        "LANG": "C.UTF-8",
    }
    for assignment in values.get("Environment", []):
        for item in shlex.split(assignment):
            name, _, value = item.partition("=")
            env[name] = value
    success = {0} | {int(c) for v in values.get("SuccessExitStatus", []) for c in v.split()}
    failed = 0
    for exec_start in values.get("ExecStart", []):
        code = _run_as(
            shlex.split(exec_start),
            user=user,
            group=group,
            cwd=values.get("WorkingDirectory", [home])[-1],
            env=env,
            umask=int(values.get("UMask", ["0022"])[-1], 8),
        )
        ok = code in success
        failed += not ok
        verdict = "PASS" if ok else "FAIL"
        sys.stdout.write(f"{verdict} {path.name} ExecStart as {user}: exit {code}\n")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ex = commands.add_parser("extract", help="write the guide's steps, rewritten, to OUT")
    ex.add_argument("guide", type=Path)
    ex.add_argument("out", type=Path)
    ex.add_argument("--root", required=True)
    ex.add_argument("--mode", choices=("service", "current"), required=True)
    ex.add_argument("--user", default=SYSTEM_USER)
    ex.add_argument("--group", default=SYSTEM_USER)
    ex.add_argument("--replace", nargs=2, action="append", default=[], metavar=("OLD", "NEW"))
    cron = commands.add_parser("run-cron", help="run each job of a /etc/cron.d file once")
    cron.add_argument("file", type=Path)
    unit = commands.add_parser("run-unit", help="run a oneshot service's ExecStart once")
    unit.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "extract":
        ctx = Context(
            root=args.root.rstrip("/"),
            mode=args.mode,
            user=args.user,
            group=args.group,
            replacements=tuple((old, new) for old, new in args.replace),
        )
        extract(args.guide, args.out, ctx)
        return 0
    if args.command == "run-cron":
        return run_cron(args.file)
    return run_unit(args.file)


if __name__ == "__main__":
    sys.exit(main())
