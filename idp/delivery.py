"""Message delivery (SMS, email) behind one small protocol, chosen per deployment:

- `outbox` (default; what tests read): one JSON object a line in `$IDP_OUTBOX_DIR/sms.jsonl`
  and `email.jsonl`, each with `to`, `text` (email: `subject`), `tenant`, `sent_at`.
- `http`: a generic SMS gateway. JSON POST to `IDP_SMS_HTTP_URL`, signed with HMAC-SHA256 of
  `timestamp.body` under `IDP_SMS_HTTP_SECRET` (headers `X-IDP-Timestamp`, `X-IDP-Signature`),
  5 s for each whole attempt (no redirects followed), 3 attempts with exponential backoff
  (`IDP_SMS_HTTP_BACKOFF`, 0.5 s).
- `smtp`: `IDP_SMTP_HOST`, `IDP_SMTP_PORT` (587), `IDP_SMTP_USER`/`IDP_SMTP_PASSWORD`,
  `IDP_SMTP_STARTTLS` (true), `IDP_EMAIL_FROM`.

A sender that cannot deliver raises `DeliveryError`; callers turn it into a clear message.
"""
import hashlib
import hmac
import json
import os
import smtplib
import threading
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from .outbound_http import PostFailed, post


class DeliveryError(Exception):
    """`transient`: the gateway or relay itself is failing (down, timing out, 5xx), not refusing
    this one message or recipient; only that says the channel is failing (idp/outgoing.py)."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


class Sender(Protocol):
    def send(self, tenant_id: str, to: str, text: str, subject: str | None = None) -> None: ...


def _record(tenant_id, to, text, subject, channel):
    record = {"to": to, "text": text, "tenant": tenant_id, "sent_at": datetime.now(timezone.utc).isoformat()}
    if channel == "email":
        record["subject"] = subject or ""
    return record


class OutboxSender:
    _lock = threading.Lock()

    def __init__(self, directory: str, channel: str):
        self.path = Path(directory) / f"{channel}.jsonl"
        self.channel = channel

    def send(self, tenant_id, to, text, subject=None):
        line = json.dumps(_record(tenant_id, to, text, subject, self.channel), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # a full disk, a file where the folder should be: not sent
            raise DeliveryError(f"outbox {self.path} could not be written: {exc.strerror or exc}") from exc


class HttpSmsSender:
    def __init__(self, url: str, secret: str, timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5):
        self.url, self.secret = url, secret.encode()
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff

    def send(self, tenant_id, to, text, subject=None):
        body = json.dumps(_record(tenant_id, to, text, None, "sms")).encode()
        timestamp = str(int(time.time()))
        signature = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-IDP-Timestamp": timestamp, "X-IDP-Signature": signature}
        last, transient = None, True
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                status = post(self.url, body, headers, self.timeout)
            except PostFailed as exc:
                last = str(exc)
                continue
            if 200 <= status < 300:
                return
            last = f"HTTP {status}"
            if 400 <= status < 500 and status != 429:
                transient = False
                break  # the gateway refused the message itself: retrying will not help
        raise DeliveryError(f"SMS gateway did not accept the message: {last}", transient)


class SmtpSender:
    def __init__(self, host, port=587, user=None, password=None, starttls=True, sender="no-reply@localhost",
                 timeout=10.0):
        self.host, self.port, self.user, self.password = host, int(port), user, password
        self.starttls, self.sender, self.timeout = starttls, sender, timeout

    def send(self, tenant_id, to, text, subject=None):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject or ""
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
            # this recipient or this message, refused; a 4xx on the data is the relay's trouble
            transient = isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code < 500
            raise DeliveryError(f"SMTP relay refused the message: {exc}", transient) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP relay did not accept the message: {exc}") from exc


def _env_bool(value, default=True):
    return default if value is None else str(value).lower() in ("1", "true", "yes")


def _number(get, name, default, kind, lowest=0, highest=3600):
    try:
        value = kind(get(name, default))
    except ValueError:
        raise ValueError(f"{name} {get(name)!r} is not a number") from None
    if not lowest <= value <= highest:  # nan and inf too
        raise ValueError(f"{name} {get(name)!r} must be between {lowest} and {highest}")
    return value


def senders(settings) -> dict[str, Sender]:
    get = lambda key, default=None: settings.get(key) or os.environ.get(key) or default  # noqa: E731
    out: dict[str, Sender] = {}
    sms, email = settings["IDP_SMS_BACKEND"], settings["IDP_EMAIL_BACKEND"]
    if sms == "outbox":
        out["sms"] = OutboxSender(settings["IDP_OUTBOX_DIR"], "sms")
    elif sms == "http":
        if urlsplit(get("IDP_SMS_HTTP_URL", "")).scheme not in ("http", "https"):
            raise ValueError("IDP_SMS_BACKEND=http needs IDP_SMS_HTTP_URL, the gateway's http(s) URL")
        out["sms"] = HttpSmsSender(get("IDP_SMS_HTTP_URL"), get("IDP_SMS_HTTP_SECRET", ""),
                                   backoff=_number(get, "IDP_SMS_HTTP_BACKOFF", 0.5, float))
    else:
        raise ValueError(f"IDP_SMS_BACKEND={sms!r}: choose outbox or http")
    if email == "outbox":
        out["email"] = OutboxSender(settings["IDP_OUTBOX_DIR"], "email")
    elif email == "smtp":
        if not get("IDP_SMTP_HOST"):  # not a silent localhost that reports ready and delivers nothing
            raise ValueError("IDP_EMAIL_BACKEND=smtp needs IDP_SMTP_HOST, the relay's host name")
        port = _number(get, "IDP_SMTP_PORT", 587, int, 1, 65535)
        out["email"] = SmtpSender(get("IDP_SMTP_HOST"), port, get("IDP_SMTP_USER"),
                                  get("IDP_SMTP_PASSWORD"), _env_bool(get("IDP_SMTP_STARTTLS")),
                                  get("IDP_EMAIL_FROM", "no-reply@localhost"))
    else:
        raise ValueError(f"IDP_EMAIL_BACKEND={email!r}: choose outbox or smtp")
    return out
