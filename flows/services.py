"""What the flow views need, handed over by the composition root (idp/) at start-up."""
import time
from dataclasses import dataclass
from typing import Any, Callable

from .executor import INTERACTION
from .ports import Accounts, Audit, EphemeralStore


@dataclass
class FlowServices:
    tenants: dict
    store: EphemeralStore
    accounts: Accounts
    audit: Audit
    secret: bytes
    # finish(tenant, interaction, result) -> a Flask response; idp/ saves the plan (marked done)
    # and establishes the session
    finish: Callable[[Any, dict, dict], Any]
    # client(tenant_id, client_id) -> display name, for the page header
    client_name: Callable[[str, str], str]
    secure_cookies: Callable[[], bool]
    # session_account(tenant) -> the signed-in account id (sign-in complete: active, no password
    # change pending), or None
    session_account: Callable[[Any], str | None]

    def save_interaction(self, interaction: dict) -> None:
        """Keep a stage's state (it lives as long as the interaction does)."""
        self.store.put(INTERACTION, interaction["uid"], interaction,
                       max(1.0, interaction["expires_at"] - time.time()))
