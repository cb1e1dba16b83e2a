"""The production install guide (docs/install.md): its tested blocks, their Vietnamese twin,
the README's snippets, and docs/install-check.sh run end to end (slow)."""

from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from connector.settings import load_settings

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
GUIDE = ROOT / "docs" / "install.md"
GUIDE_VI = ROOT / "docs" / "vi" / "install.md"
CHECK = ROOT / "docs" / "install-check.sh"
WHEELHOUSE = ROOT / ".wheelhouse"
WHEELS_BUILT = WHEELHOUSE / ".built-stamp"


def _load_blocks_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "install_blocks", ROOT / "docs" / "install_blocks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["install_blocks"] = module
    spec.loader.exec_module(module)
    return module


ib = _load_blocks_module()


def guide_blocks(path: Path = GUIDE) -> list[object]:
    return ib.blocks(path.read_text(encoding="utf-8"))


def file_block(path: str) -> str:
    found = [b.body for b in guide_blocks() if b.path == path]
    assert len(found) == 1, path
    return str(found[0])


def current_ctx(root: Path) -> object:
    return ib.Context(
        root=str(root),
        mode="current",
        user=pwd.getpwuid(os.getuid()).pw_name,
        group=grp.getgrgid(os.getgid()).gr_name,
    )


# -- the guide's blocks ----------------------------------------------------------------------


def test_guide_has_the_tested_steps_in_order() -> None:
    """The guide's tested blocks cover the user, the directories, the install, the config, the
    first run, cron, systemd, logrotate, backup/restore, upgrade and rollback, in that order."""
    text = "\n".join(b.body for b in guide_blocks())
    markers = [
        "useradd --system",
        "install -d -m 0700 -o idesk -g idesk /var/lib/idesk-connector",
        "pip wheel --wheel-dir",
        "pip install --no-index --find-links /opt/idesk-connector-wheels/",
        'url = "sqlite:////var/lib/idesk-connector/ledger.db"',
        "config.toml check",
        "/etc/cron.d/idesk-connector",
        "systemctl daemon-reload",
        "logrotate -d /etc/logrotate.d/idesk-connector",
        "db backup /var/backups/idesk-connector/manual.db",
        "db upgrade --wait 600",
        'db downgrade --to "$OLD_REVISION"',
    ]
    positions = [text.find(m) for m in markers]
    assert -1 not in positions, [m for m, p in zip(markers, positions, strict=True) if p < 0]
    assert positions == sorted(positions)


def test_every_file_block_is_created_with_its_mode_first() -> None:
    """Each `install-file=PATH` block is a system path, created before by an `install -m MODE`
    command of an earlier block (so the check, and the reader, set owner and mode first)."""
    created: set[str] = set()
    for block in guide_blocks():
        if block.is_file:
            assert block.path.startswith(ib.SYSTEM_PATHS), block.path
            assert block.path in created, f"{block.path} is written before it is created"
        else:
            created |= set(re.findall(r"^install -m \d{4} .* /dev/null (\S+)$", block.body, re.M))


def test_no_development_install_in_the_guide() -> None:
    """The guide never installs the dev extra or an editable checkout."""
    text = GUIDE.read_text(encoding="utf-8")
    commands = "\n".join(b.body for b in guide_blocks())
    assert "[dev]" not in commands and "pip install -e" not in text
    assert "make install" not in commands


def test_guide_config_block_is_valid_for_the_connector(tmp_path: Path) -> None:
    """The guide's config.toml and secrets.toml, as written, load without a problem (every key
    known, the secret accepted from the 0600 file, the ledger URL absolute)."""
    ctx = current_ctx(tmp_path)
    config = Path(ib.rewrite("/etc/idesk-connector/config.toml", ctx))
    config.parent.mkdir(parents=True)
    for guide_path in ("/etc/idesk-connector/config.toml", "/etc/idesk-connector/secrets.toml"):
        target = Path(ib.rewrite(guide_path, ctx))
        target.write_text(ib.rewrite(file_block(guide_path), ctx), encoding="utf-8")
        target.chmod(0o600)
    loaded = load_settings(config, environ={})
    settings = loaded.settings
    assert not loaded.warnings
    assert settings.ledger.url == f"sqlite:///{tmp_path}/var/lib/idesk-connector/ledger.db"
    assert settings.source.base_url.startswith("https://")
    assert settings.source.password is not None
    assert settings.log.file == f"{tmp_path}/var/log/idesk-connector/connector.log"
    assert 'url = "sqlite:////var/lib/idesk-connector/ledger.db"' in file_block(
        "/etc/idesk-connector/config.toml"
    )


def test_cron_file_has_a_user_field_and_absolute_paths() -> None:
    """Every job of the guide's /etc/cron.d file runs as idesk, from /var/lib/idesk-connector,
    with the installed program's absolute path, and holds no bare % (cron's newline)."""
    env, jobs = ib.cron_jobs(file_block("/etc/cron.d/idesk-connector"))
    assert env["SHELL"] == "/bin/sh"
    assert {user for _s, user, _c in jobs} == {"idesk"}
    assert [s for s, _u, _c in jobs] == ["*/15 * * * *", "37 2 * * *"]
    for _schedule, _user, command in jobs:
        assert command.startswith(
            "cd /var/lib/idesk-connector && /opt/idesk-connector/bin/idesk-connector "
            "--config /etc/idesk-connector/config.toml "
        )


def test_systemd_units_as_the_issue_asks() -> None:
    """The sync service waits for network-online.target (Wants= and After=), runs as idesk with
    absolute paths and exit 1/75 counted as success; services have no [Install], timers do."""
    service = ib.unit_sections(file_block("/etc/systemd/system/idesk-connector.service"))
    unit = dict(service["Unit"])
    assert unit["Wants"] == unit["After"] == "network-online.target"
    values = dict(service["Service"])
    assert values["User"] == "idesk" and values["Type"] == "oneshot"
    assert values["WorkingDirectory"] == "/var/lib/idesk-connector"
    assert values["ExecStart"].startswith("/opt/idesk-connector/bin/idesk-connector --config ")
    assert values["SuccessExitStatus"] == "1 75"
    for name in ("idesk-connector", "idesk-connector-backup"):
        assert "Install" not in ib.unit_sections(file_block(f"/etc/systemd/system/{name}.service"))
        timer = ib.unit_sections(file_block(f"/etc/systemd/system/{name}.timer"))
        assert dict(timer["Install"]) == {"WantedBy": "timers.target"}
        assert dict(timer["Timer"])["Persistent"] == "true"


def test_logrotate_snippet_is_plain_rotation() -> None:
    """The logrotate snippet rotates every *.log by renaming (no copytruncate: the connector
    opens its log per run) and recreates files 0600 for idesk."""
    body = file_block("/etc/logrotate.d/idesk-connector")
    assert body.startswith("/var/log/idesk-connector/*.log {")
    assert "copytruncate" not in body
    assert "create 0600 idesk idesk" in body and "delaycompress" in body


# -- the check's rewriting -------------------------------------------------------------------


def test_rewrite_moves_every_system_path_once() -> None:
    """System paths get the prefix once (the wheels directory is not prefixed twice), the
    four-slash SQLite URL stays absolute, and other paths are left alone."""
    ctx = ib.Context(root="/tmp/r", mode="service", user="idesk", group="idesk")
    text = (
        "cp -r w /opt/idesk-connector-wheels/0.1.0 && /opt/idesk-connector/bin/x\n"
        'url = "sqlite:////var/lib/idesk-connector/ledger.db"\n'
        "/var/log/idesk-connector/*.log {\n"
        "pip wheel ./idesk-connector /usr/bin/python3 /etc/passwd\n"
    )
    assert ib.rewrite(text, ctx) == (
        "cp -r w /tmp/r/opt/idesk-connector-wheels/0.1.0 && /tmp/r/opt/idesk-connector/bin/x\n"
        'url = "sqlite:////tmp/r/var/lib/idesk-connector/ledger.db"\n'
        "/tmp/r/var/log/idesk-connector/*.log {\n"
        "pip wheel ./idesk-connector /usr/bin/python3 /etc/passwd\n"
    )


def test_rewrite_as_the_current_user_replaces_the_system_user_everywhere(tmp_path: Path) -> None:
    """In --mode current every mention of idesk (and root's ownership) in the guide's blocks is
    replaced, and a user mention the check cannot handle is reported."""
    ctx = ib.Context(root=str(tmp_path), mode="current", user="me", group="staff")
    steps = ib.extract(GUIDE, tmp_path / "steps", ctx)
    assert len(steps) == len(guide_blocks())
    executed = "\n".join(
        line
        for path in sorted((tmp_path / "steps").iterdir())
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith(": skipped")
    )
    assert ib.unhandled_user(executed) == []
    assert "-o me -g staff" in executed and "User=me" in executed and "su me staff" in executed
    assert re.search(r"^\*/15 \* \* \* \* me cd ", executed, re.M)
    assert ib.unhandled_user("chown idesk: /x") == ["chown idesk: /x"]


def test_systemctl_lines_are_skipped_and_said_so(tmp_path: Path) -> None:
    """The check does not run systemctl (no systemd manager): each such line becomes a comment
    naming it; useradd runs only in service mode, and then only when the user is missing."""
    ctx = ib.Context(root=str(tmp_path), mode="service", user="idesk", group="idesk")
    ib.extract(GUIDE, tmp_path / "steps", ctx)
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((tmp_path / "steps").glob("*.sh"))
    )
    assert "\nsystemctl" not in "\n" + text
    assert ": skipped, no systemd manager here: systemctl daemon-reload" in text
    assert "id -u idesk >/dev/null 2>&1 || useradd --system" in text


def test_cron_parser_refuses_a_bare_percent_and_a_missing_user_field() -> None:
    """A cron.d line with an unescaped % or without a user field is refused."""
    with pytest.raises(SystemExit, match="unescaped %"):
        ib.cron_jobs("0 1 * * * idesk date +%F\n")
    with pytest.raises(SystemExit, match=r"not a /etc/cron\.d job"):
        ib.cron_jobs("0 1 * * *\n")
    assert ib.cron_jobs("0 1 * * * idesk date +\\%F\n")[1] == [("0 1 * * *", "idesk", "date +%F")]


# -- the Vietnamese guide and the README -----------------------------------------------------


def test_vietnamese_guide_has_the_same_commands_and_files() -> None:
    """docs/vi/install.md holds the same tested blocks, in the same order, as docs/install.md
    (comments aside): the translation cannot drift from the tested commands."""
    english = [(b.path, ib.normalised(b)) for b in guide_blocks(GUIDE)]
    vietnamese = [(b.path, ib.normalised(b)) for b in guide_blocks(GUIDE_VI)]
    assert vietnamese == english


def test_vietnamese_texts_are_written_with_diacritics() -> None:
    """The Vietnamese guide and README.vi.md are Vietnamese with diacritics, and point at each
    other and at the guide."""
    guide = GUIDE_VI.read_text(encoding="utf-8")
    readme = (ROOT / "README.vi.md").read_text(encoding="utf-8")
    for text in (guide, readme):
        assert all(word in text for word in ("cài đặt", "máy chủ", "người dùng", "cơ sở dữ liệu"))
    assert "docs/vi/install.md" in readme and "make demo" in readme and "make test" in readme


def test_readme_snippets_are_the_guides() -> None:
    """README's cron line and systemd units are those of docs/install.md, and README points at
    the guide from the quick start and from the cron/systemd section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "docs/install.md" in quick_start
    section = readme.split("## Running from cron or a systemd timer", 1)[1].split("\n## ", 1)[0]
    assert "docs/install.md" in section
    snippets = re.findall(r"```(?:cron|ini)\n(.*?)```", section, re.S)
    assert len(snippets) == 3
    guide_bodies = [b.body for b in guide_blocks()]
    for snippet in snippets:
        assert any(snippet.strip() in body for body in guide_bodies), snippet


# -- the whole guide, run ---------------------------------------------------------------------


def offline_pip_env(wheelhouse: Path) -> dict[str, str]:
    """The environment that keeps every pip of the install check off the network: the index
    disabled, the wheels found in `wheelhouse` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheelhouse),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


@pytest.mark.slow
@pytest.mark.skipif(
    not WHEELS_BUILT.is_file(),
    reason="no wheelhouse of the dependencies (.wheelhouse): `make test` or `make wheelhouse` "
    "builds it once; without it this test would download from the package index",
)
def test_install_check_runs_the_guide_green() -> None:
    """docs/install-check.sh installs per the guide in a throwaway prefix (as the system user
    idesk when run as root), offline from the wheelhouse, and every check passes."""
    args = ["bash", str(CHECK)] + (["--create-user"] if os.getuid() == 0 else [])
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env=offline_pip_env(WHEELHOUSE),
    )
    summary = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert re.fullmatch(r"install-check: \d+ passed, 0 failed, \d+ skipped", summary[-1])
