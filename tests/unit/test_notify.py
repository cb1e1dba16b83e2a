"""The pure pieces of the e-mail and webhook channels (connector.notify): Message-ID from the
idempotency key, the digest message's bytes, the webhook signature, the address book."""

from __future__ import annotations

import email
import hashlib
import hmac
import re
from datetime import date
from email import policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.notify.addressbook import Mailbox, parse_book, parse_mailbox
from connector.notify.digest import DigestAlert, render_digest
from connector.notify.smtp import Digest, build_message, message_bytes, message_id
from connector.notify.webhook import signature_header, verify


def _digest(key: str = "dig:STTTT:2022-03-22") -> Digest:
    return Digest(
        key=key,
        unit="STTTT",
        day="2022-03-22",
        subject="Nhắc việc ngày 22/03/2022: 1 thông báo",
        text="Kính gửi: Sở Thông tin và Truyền thông.\nNhiệm vụ quá hạn: 12/UBND-VX",
        html="<p>Kính gửi: Sở Thông tin và Truyền thông.</p>",
        date="Tue, 22 Mar 2022 09:00:00 +0700",
        message_id=message_id(key, "ubnd.binhdinh.example"),
        alert_keys=("alr:101:QUA_HAN:2022-03-01#3",),
    )


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_message_id_is_a_function_of_the_key(one: str, two: str) -> None:
    """The same key always gives the same Message-ID; two keys never share one."""
    assert message_id(one, "example.org") == message_id(one, "example.org")
    if one != two:
        assert message_id(one, "example.org") != message_id(two, "example.org")
    assert message_id(one, "example.org").endswith("@example.org>")


def test_digest_message_is_the_same_bytes_each_time_with_text_and_html() -> None:
    """A digest renders to identical bytes on every (re)send: multipart/alternative, plain text
    then HTML, Message-ID from its key, Vietnamese intact."""
    sender = Mailbox("tct@ubnd.binhdinh.example", "Tổ công tác")
    to = [Mailbox("vanthu@stttt.binhdinh.example")]
    first = message_bytes(build_message(_digest(), sender, to))
    again = message_bytes(build_message(_digest(), sender, to))
    assert first == again
    assert first.isascii()
    parsed = email.message_from_bytes(first, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Message-ID"] == message_id("dig:STTTT:2022-03-22", "ubnd.binhdinh.example")
    assert "Sở Thông tin" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    other = message_bytes(build_message(_digest("dig:SYT:2022-03-22"), sender, to))
    assert other != first


def test_digest_names_the_unit_on_one_line_without_control_characters() -> None:
    """A unit's name from the source with a line break, an 8-bit CSI and a right-to-left
    override: the digest's greeting and closing name it on one line without them (as the
    alerts name a unit), in the text and the HTML part."""
    alert = DigestAlert("alr:1:QUA_HAN:2022-03-01#3", "QUA_HAN", 1, 1, "Quá hạn: 1/UBND", "Nội")
    digest = render_digest(
        key="dig:STC:2022-03-22",
        unit_name="Sở Tài\nchính\x9b2J \u202eRLO\u202c",
        day=date(2022, 3, 22),
        alerts=[alert],
    )
    for body in (digest.text, digest.html):
        assert "Sở Tài chính2J RLO" in body
        assert not re.search("[\x7f-\x9f\u202a-\u202e]", body)
    assert "Kính gửi: Sở Tài chính2J RLO." in digest.text.splitlines()


def test_webhook_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """``X-Signature: t=T,v1=hex(HMAC-SHA256(secret, "T." + body))``, checked here with hmac
    directly (the receiver's recipe in docs/webhook.md)."""
    body = '{"key":"alr:1","title":"Quá hạn"}'.encode()
    header = signature_header("s3cret", 1647914400, body)
    wanted = hmac.new(b"s3cret", b"1647914400." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1647914400,v1={wanted}"
    assert verify("s3cret", header, body, now=1647914400 + 10)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        pytest.param("other", b'{"a":1}', 1000.0, id="wrong-secret"),
        pytest.param("s3cret", b'{"a":2}', 1000.0, id="body-changed"),
        pytest.param("s3cret", b'{"a":1}', 1000.0 + 301, id="too-old"),
    ],
)
def test_webhook_verify_refuses_a_wrong_secret_a_changed_body_or_a_replay(
    secret: str, body: bytes, now: float
) -> None:
    """`verify` refuses another secret, a body changed after signing, and a stale timestamp."""
    header = signature_header("s3cret", 1000, b'{"a":1}')
    assert not verify(secret, header, body, now=now)


def test_address_book_in_toml_or_csv() -> None:
    """TOML and CSV books give the same recipients; ';' separates several in one cell."""
    toml_book = parse_book(
        '[units]\nSYT = ["Văn thư <vanthu@syt.example>", "gd@syt.example"]\n', "units.toml"
    )
    csv_book = parse_book(
        "unit,address\nSYT,Văn thư <vanthu@syt.example>; gd@syt.example\n", "units.csv"
    )
    assert toml_book.addresses("SYT") == csv_book.addresses("SYT")
    assert toml_book.addresses("SYT") == (
        Mailbox("vanthu@syt.example", "Văn thư"),
        Mailbox("gd@syt.example"),
    )
    assert toml_book.missing_units(["SYT", "STTTT"]) == ["STTTT"]


def test_address_book_refuses_what_is_not_an_address() -> None:
    """A bad address is a ConfigError naming the book and the line, not a silent skip."""
    with pytest.raises(ConfigError) as caught:
        parse_book("unit,address\nSYT,not-an-address\n", "units.csv")
    assert "units.csv: line 2" in str(caught.value)
    assert parse_mailbox("a@b.example\r\nBcc: x@y.example") is None


def _doc_python() -> dict[str, object]:
    from tests.support import ROOT

    text = (ROOT / "docs" / "webhook.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/webhook.md", "exec"), namespace)  # our own doc's example
    return namespace


def test_the_receivers_recipe_in_docs_webhook_md_verifies_our_signature() -> None:
    """The verification code docs/webhook.md gives a receiver accepts what the connector signs
    and refuses a changed body, another secret and an old timestamp."""
    verify_request = _doc_python()["verify_request"]
    assert callable(verify_request)
    body = '{"key":"alr:1","title":"Nhiệm vụ quá hạn"}'.encode()
    header = signature_header("whsec-doc", 1647914400, body)
    assert verify_request(b"whsec-doc", header, body, now=1647914400 + 5)
    assert not verify_request(b"whsec-doc", header, body + b" ", now=1647914400 + 5)
    assert not verify_request(b"other", header, body, now=1647914400 + 5)
    assert not verify_request(b"whsec-doc", header, body, now=1647914400 + 3600)


def test_docs_webhook_md_documents_every_body_key() -> None:
    """The body table of docs/webhook.md names exactly the keys `webhook_body` sends."""
    from datetime import UTC, datetime

    from connector.ledger.tables import OutboxRow
    from connector.outbox.routing import webhook_body
    from tests.support import ROOT

    text = (ROOT / "docs" / "webhook.md").read_text(encoding="utf-8")
    table = text.split("## The body", 1)[1].split("##", 1)[0]
    documented: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            documented.update(part.strip(" `") for part in cell.split(","))
    row = OutboxRow(
        idempotency_key="alr:1:QUA_HAN:2022-03-01#3",
        kind="alert",
        task_id=1,
        payload_json="{}",
        state="routed",
        alert_type="QUA_HAN",
        occasion="2022-03-01#3",
        created_at=datetime(2022, 3, 22, 2, tzinfo=UTC),
        updated_at=datetime(2022, 3, 22, 2, tzinfo=UTC),
        run_id="r",
    )
    assert documented == set(webhook_body(row, {"recipients": ["STTTT"]}, {}, "vi"))
