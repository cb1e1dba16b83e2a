"""`idesk-connector demo --deliver email`: the demo's alerts go out as e-mail digests to a
loopback SMTP sink that writes them as .eml files, one per unit, none to the source."""

from __future__ import annotations

import email
import subprocess
from collections import Counter
from email import policy
from pathlib import Path

from tests.support.harness import CLI


def test_demo_deliver_email_writes_one_digest_per_unit(tmp_path: Path) -> None:
    """The console script's demo with --deliver email: each .eml is a multipart digest to the
    addresses the demo's book gives its unit, one per unit, unique Message-IDs; the simulator
    got no notification."""
    done = subprocess.run(
        [str(CLI), "demo", "--dir", str(tmp_path / "demo"), "--tasks", "150", "--deliver", "email"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted((tmp_path / "demo" / "mail").glob("*.eml"))
    assert files, done.stdout
    # the source got no notification: every alert went by e-mail
    sent = f"đã gửi 0 cảnh báo về nguồn, {len(files)} thư tổng hợp qua e-mail."
    assert sent in done.stdout
    assert f"E-mail: {len(files)} thư tổng hợp trong" in done.stdout
    book = (tmp_path / "demo" / "units.toml").read_text(encoding="utf-8")
    units: Counter[str] = Counter()
    ids = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message.get_content_type() == "multipart/alternative"
        unit = str(message["X-Idesk-Connector-Key"]).split(":")[1]
        units[unit] += 1
        ids.add(str(message["Message-ID"]))
        to = [a.addr_spec for a in message["To"].addresses]  # type: ignore[attr-defined]
        assert to and all(f"<{addr}>" in book for addr in to)
    assert set(units.values()) == {1}
    assert len(ids) == len(files)
