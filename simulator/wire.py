"""Requests and responses as the simulator's handlers see them, independent of the socket."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

MESSAGES: dict[str, str] = {
    "unauthorized": "Chưa đăng nhập hoặc thiếu thông tin xác thực.",
    "session_expired": "Phiên làm việc đã hết hạn. Vui lòng đăng nhập lại.",
    "bad_credentials": "Tên đăng nhập hoặc mật khẩu không đúng.",
    "invalid_token": "Mã truy cập (token) không hợp lệ hoặc đã bị thu hồi.",
    "limit_too_large": "Số bản ghi mỗi trang vượt quá giới hạn cho phép (tối đa 500).",
    "invalid_limit": "Số bản ghi mỗi trang phải từ 1 đến 500.",
    "bad_request": "Yêu cầu không hợp lệ.",
    "not_found": "Không tìm thấy dữ liệu yêu cầu.",
    "method_not_allowed": "Phương thức không được hỗ trợ cho địa chỉ này.",
    "idempotency_key_required": "Thiếu khóa chống trùng lặp (Idempotency-Key).",
    "idempotency_key_too_long": "Khóa chống trùng lặp (Idempotency-Key) dài quá 255 ký tự.",
    "idempotency_key_reused": "Khóa chống trùng lặp đã được dùng cho một yêu cầu có nội dung khác.",
    "invalid_status": "Trạng thái theo dõi không hợp lệ.",
    "invalid_type": "Loại thông báo không hợp lệ.",
    "invalid_level": "Mức độ thông báo phải là 0, 1 hoặc 2.",
    "unknown_recipient": "Đơn vị nhận không tồn tại.",
    "rate_limited": "Vượt quá số yêu cầu cho phép mỗi giây. Vui lòng thử lại sau.",
    "forbidden": "Chỉ được gọi từ máy cục bộ.",
    "invalid_api_key": "Thông tin ứng dụng (X-App-Name, X-Api-Key) không hợp lệ.",
    "otp_required": "Tài khoản yêu cầu mã xác thực một lần (OTP) khi đăng nhập.",
    "invalid_client": "Thông tin ứng dụng (client_id, client_secret) không hợp lệ.",
    "unsupported_grant_type": "Chỉ hỗ trợ grant_type=client_credentials.",
    "access_denied": "Tài khoản không có quyền truy cập dữ liệu này.",
}


@dataclass(frozen=True)
class Request:
    """One HTTP request. `headers` keys are lower-case; `path` has no query string."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client: str = "127.0.0.1"

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def cookie(self, name: str) -> str | None:
        for part in self.headers.get("cookie", "").split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip()
        return None


@dataclass
class Response:
    """What to send back, and the faults that shape how it is sent."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    drop: bool = False
    faults: list[str] = field(default_factory=list)


def encode(data: Any) -> bytes:
    """UTF-8 JSON, Vietnamese kept readable."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status=status, body=encode(data), headers=list(headers or []))


def error(status: int, code: str, detail: str = "") -> Response:
    """``{"error": code, "message": "<Vietnamese>"}`` (contract section 1)."""
    message = MESSAGES.get(code, MESSAGES["bad_request"])
    if detail:
        message = f"{message} {detail}"
    return json_response(status, {"error": code, "message": message})


def html_response(status: int, html: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        status=status,
        body=html.encode("utf-8"),
        content_type=HTML_TYPE,
        headers=list(headers or []),
    )


class BodyError(ValueError):
    """The request body is not the JSON object expected."""


def json_object(body: bytes) -> dict[str, Any]:
    """The body parsed as a JSON object; an empty body is ``{}``."""
    if not body.strip():
        return {}
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError(f"Nội dung không phải JSON hợp lệ ({exc.__class__.__name__}).") from None
    if not isinstance(data, dict):
        raise BodyError("Nội dung phải là một đối tượng JSON.")
    return data


def fingerprint(data: dict[str, Any]) -> str:
    """A canonical form of a JSON body: equal bodies, equal fingerprints (key order ignored)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def login_page(base_path: str) -> str:
    """The HTML login page older deployments answer when a session has expired."""
    return (
        '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
        "<title>Đăng nhập - Hệ thống quản lý văn bản và điều hành</title></head>\n"
        "<body><h1>Đăng nhập</h1>\n"
        f'<form id="loginForm" method="post" action="{base_path}/auth/login.cpx">'
        '<input name="username" placeholder="Tên đăng nhập">'
        '<input name="password" type="password" placeholder="Mật khẩu">'
        '<button type="submit">Đăng nhập</button></form>\n'
        "<p>Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.</p></body></html>\n"
    )


_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def proxy_page(status: int) -> str:
    """The reverse proxy's HTML error page."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
