"""Message delivery (SMS, email) behind one small protocol, chosen per deployment.

`outbox` (the default, and what tests read) appends one JSON object a line to
`$IDP_OUTBOX_DIR/sms.jsonl` and `email.jsonl`.
"""
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path


class OutboxSender:
    _lock = threading.Lock()

    def __init__(self, directory: str, channel: str):
        self.path = Path(directory) / f"{channel}.jsonl"
        self.channel = channel

    def send(self, tenant_id: str, to: str, text: str, subject: str | None = None) -> None:
        record = {"to": to, "text": text, "tenant": tenant_id, "sent_at": datetime.now(timezone.utc).isoformat()}
        if self.channel == "email":
            record["subject"] = subject or ""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def senders(settings) -> dict:
    out = {}
    for channel, key in (("sms", "IDP_SMS_BACKEND"), ("email", "IDP_EMAIL_BACKEND")):
        backend = settings[key]
        if backend != "outbox":
            raise ValueError(f"{key}={backend!r}: only 'outbox' is available in this build")
        out[channel] = OutboxSender(settings["IDP_OUTBOX_DIR"], channel)
    return out
