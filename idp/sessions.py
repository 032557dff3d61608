"""SSO sessions per tenant: a random cookie (path /t/<tenant>) naming an entry in the ephemeral
store. A sign-in always starts a new session id (ASVS 7.2.4); the OIDC `sid` is a separate
public value, so the cookie secret never appears in tokens."""
import secrets
import time

from flask import request

from .oauth.subject import digest, new_id

SESSION = "session"
COOKIE = "idp_session"


class Sessions:
    def __init__(self, store, secure: bool):
        self.store, self.secure = store, secure

    def load(self, tenant) -> dict | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie or len(cookie) > 128:
            return None
        session = self.store.get(SESSION, digest(cookie))
        return session if session and session["tenant"] == tenant.id else None

    def establish(self, tenant, response, result: dict, previous: dict | None) -> dict:
        """Start a fresh session for `result` (account_id, amr, acr) and set its cookie."""
        self.end_current(tenant)
        now = int(time.time())
        same_user = previous and previous["account_id"] == result["account_id"]
        session = {
            "tenant": tenant.id, "account_id": result["account_id"], "auth_time": now,
            "amr": result.get("amr", ["pwd"]), "acr": result.get("acr", tenant.base_acr), "acr_time": now,
            # keep the sid and participating clients when the same user re-authenticates
            "sid": previous["sid"] if same_user else new_id(),
            "clients": previous["clients"] if same_user else [],
            "expires_at": now + int(tenant.tokens.session_lifetime.total_seconds()),
        }
        cookie = secrets.token_urlsafe(32)
        self.store.put(SESSION, digest(cookie), session, tenant.tokens.session_lifetime.total_seconds(),
                       grant_id=_family(session["account_id"]))
        response.set_cookie(COOKIE, cookie, path=f"/t/{tenant.id}", secure=self.secure, httponly=True,
                            samesite="Lax", max_age=int(tenant.tokens.session_lifetime.total_seconds()))
        return session

    def add_client(self, tenant, session: dict, client_id: str) -> None:
        if client_id in session["clients"]:
            return
        session["clients"].append(client_id)
        cookie = request.cookies.get(COOKIE)
        ttl = session["expires_at"] - time.time()
        if cookie and ttl > 0:
            self.store.put(SESSION, digest(cookie), session, ttl, grant_id=_family(session["account_id"]))

    def end_current(self, tenant) -> dict | None:
        session = self.load(tenant)
        if session:
            self.store.delete(SESSION, digest(request.cookies[COOKIE]))
        return session

    def end_all(self, account_id: str) -> int:
        """End every session of an account, in every browser (indexed as one family)."""
        return self.store.revoke_family(_family(account_id), mark_ttl=1)

    def clear_cookie(self, tenant, response):
        response.delete_cookie(COOKIE, path=f"/t/{tenant.id}", secure=self.secure, httponly=True, samesite="Lax")


def _family(account_id: str) -> str:
    return f"sessions:{account_id}"
