"""SSO sessions per tenant: a random cookie (path /t/<tenant>) naming an entry in the ephemeral
store. A sign-in always starts a new session id (ASVS 7.2.4); the OIDC `sid` is a separate
public value, so the cookie secret never appears in tokens."""
import copy
import secrets
import time

from flask import has_request_context, request

from .oauth.subject import digest, new_id

SESSION = "session"
LIVE_SID = "session_sid"  # marks a session's sid live, for what is bound to it (code exchange, refresh)
COOKIE = "idp_session"
SEEN_EVERY = 60  # seconds: how stale `seen_at` may get before a use writes it again
UPDATE_ATTEMPTS = 5  # compare-and-set rounds of one session write against the same browser's other requests


class Sessions:
    def __init__(self, store, secure: bool):
        self.store, self.secure = store, secure

    def load(self, tenant) -> dict | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie or len(cookie) > 128:
            return None
        session = self.store.get(SESSION, digest(cookie))
        if not session or session["tenant"] != tenant.id:
            return None
        now = time.time()
        seen_at = session.get("seen_at", now)
        # unused too long (ASVS 7.3.1): neither this browser nor a portal refreshing under its
        # sid (which keeps the sid mark alive) has used it within the idle timeout
        idle = now - seen_at > tenant.tokens.session_idle_timeout.total_seconds()
        if idle and not self.sid_live(tenant, session["sid"]):
            self.store.delete(SESSION, digest(cookie))
            self.store.delete(LIVE_SID, _sid_key(tenant, session["sid"]))
            return None
        if now - seen_at > SEEN_EVERY or "seen_at" not in session:
            # a use keeps it alive, written at most once a minute, and its sid's mark for as long
            # (a portal's refresh may have renewed the mark since: it lapses no sooner than this
            # session idles). A sid gone meanwhile (ended elsewhere) ends this session too: the
            # codes it gave would all be refused
            if not self._renew_sid(tenant, session["sid"], now, session["expires_at"], visit=True):
                self.store.delete(SESSION, digest(cookie))
                return None
            session["seen_at"] = now
            self._update(lambda stored: stored.update(seen_at=now) or True)
        return session

    def establish(self, tenant, response, result: dict, previous: dict | None) -> dict:
        """A new session id for every authentication (ASVS 7.2.4). `result` says who (account_id)
        and how (amr, acr); with `step_up`, the same user's session gains an elevated level."""
        self.end_current(tenant)
        moment = time.time()
        now = int(moment)
        same_user = bool(previous) and previous["account_id"] == result["account_id"]
        if result.get("step_up") and same_user and _second_factor(tenant, result):
            session = self._stepped_up(previous, result, now, moment)
        else:
            session = {
                "tenant": tenant.id, "account_id": result["account_id"], "auth_time": now, "authenticated_at": moment,
                "amr": result.get("amr", ["pwd"]), "acr": tenant.base_acr,
                # keep the sid and participating clients when the same user re-authenticates
                "sid": previous["sid"] if same_user else new_id(),
                "clients": previous["clients"] if same_user else [],
                "expires_at": now + int(tenant.tokens.session_lifetime.total_seconds()),
            }
            if result.get("credential"):  # opened by a temporary password, for password_change
                session["credential"] = result["credential"]
        session["seen_at"] = now
        self._store_under_new_cookie(tenant, response, session, now)
        self.store.put(LIVE_SID, _sid_key(tenant, session["sid"]), _mark(session, now), _live_for(tenant, session, now),
                       grant_id=_family(session["account_id"]))
        return session

    def reauthenticated(self, tenant, response, account_id: str) -> bool:
        """This browser's session, whose user just entered their password again (a signed-in
        flow), under a new cookie, the old one ended (ASVS 7.2.4: re-authentication too): a
        cookie copied before no longer works. Its sid, clients and level stay; auth_time moves."""
        previous = self.load(tenant)
        if not previous or previous["account_id"] != account_id:
            return False
        moment = time.time()
        now = int(moment)
        self._store_under_new_cookie(tenant, response, {**previous, "auth_time": now, "authenticated_at": moment,
                                                        "seen_at": now}, now)
        self.store.delete(SESSION, digest(request.cookies[COOKIE]))
        return True

    def _store_under_new_cookie(self, tenant, response, session, now):
        cookie = secrets.token_urlsafe(32)
        ttl = session["expires_at"] - now
        session["id"] = digest(cookie)  # its own key, for end_others
        self.store.put(SESSION, session["id"], session, ttl, grant_id=_family(session["account_id"]))
        response.set_cookie(COOKIE, cookie, path=f"/t/{tenant.id}", secure=self.secure, httponly=True,
                            samesite="Lax", max_age=ttl)

    @staticmethod
    def _stepped_up(previous, result, now, moment):  # only with a second factor (_second_factor)
        step_up = result["step_up"]
        factors = [*previous["amr"], *(m for m in result.get("amr", []) if m not in previous["amr"])]
        session = {**previous, "step_up": {"acr": step_up["acr"], "amr": factors + ["mfa"], "at": now,
                                           "binding": step_up.get("binding")}}
        if "pwd" in result.get("amr", []):
            # the password was entered again just now (auth_time in whole seconds for the ID
            # token; authenticated_at to tell it from a request begun in the same second)
            session["auth_time"], session["authenticated_at"] = now, moment
        return session

    def spend_step_up_binding(self, tenant, binding: str) -> bool:
        """A TAC approves one transaction: the approval of `binding` is spent before its code is
        issued, in one compare-and-set, so that of two requests for it only one gets a code.
        False when it is not there to spend (spent by the other, or another transaction's)."""
        def spend(stored):
            step_up = stored.get("step_up") or {}
            if step_up.get("binding") != binding:
                return False
            step_up["binding"] = "used"
            return True
        return self._update(spend)

    def add_client(self, tenant, session: dict, client_id: str) -> None:
        if client_id in session["clients"]:
            return
        session["clients"].append(client_id)

        def add(stored):
            if client_id in stored["clients"]:
                return False
            stored["clients"].append(client_id)
            return True
        self._update(add)

    def _update(self, change) -> bool:
        """Apply `change` (it edits a session, and says whether it did) to this browser's session
        as stored now, by compare-and-set, read again on a conflict: one browser's requests side
        by side each keep the other's write (a spent TAC approval stays spent), and a session a
        logout or a password change ended meanwhile stays ended. Whether it was written."""
        cookie = request.cookies.get(COOKIE)
        key = cookie and digest(cookie)
        for _ in range(UPDATE_ATTEMPTS):
            stored = key and self.store.get(SESSION, key)
            if not stored:
                return False
            updated = copy.deepcopy(stored)
            ttl = updated["expires_at"] - time.time()
            if not change(updated) or ttl <= 0:
                return False
            if self.store.replace(SESSION, key, updated, ttl, expect=stored):
                return True
        return False  # still contended: not written (a spend then fails closed)

    def end_current(self, tenant) -> dict | None:
        session = self.load(tenant)
        if session:
            # the sid mark first: a store failing in between leaves the session for a retry to
            # end, not a session gone whose codes and refreshes still work
            self.store.delete(LIVE_SID, _sid_key(tenant, session["sid"]))
            self.store.delete(SESSION, digest(request.cookies[COOKIE]))
        return session

    def sid_live(self, tenant, sid: str) -> bool:
        """Whether the session with this sid goes on (not logged out, ended or expired)."""
        return self.store.get(LIVE_SID, _sid_key(tenant, sid)) is not None

    def use_sid(self, tenant, sid: str) -> bool:
        """`sid_live`, for a portal refreshing a grant bound to the session: that counts as use
        of the session (as in Keycloak; the tenant's `refresh_is_session_use`), so a user busy in
        the portal is not sent back to sign in at every idle timeout."""
        if not tenant.tokens.refresh_is_session_use:
            return self.sid_live(tenant, sid)
        return self._renew_sid(tenant, sid, time.time())

    def _renew_sid(self, tenant, sid: str, now: float, ends: float | None = None, visit=False) -> bool:
        """Keep a sid mark for another idle timeout, never past the session's end; whether it is
        still there. Only the mark as read is renewed: a logout meanwhile, or the same user
        signing in again (the sid kept, a later end), stands. A refresh writes at most once a
        minute; a browser's visit always (its session's own `seen_at` limits those)."""
        key = _sid_key(tenant, sid)
        mark = self.store.get(LIVE_SID, key)
        if mark is None:
            return False
        ends = mark.get("expires_at", ends)  # a mark from before it carried the end
        if ends is None or not (visit or now - mark.get("seen_at", 0) > SEEN_EVERY):
            return True
        renewed = {**mark, "seen_at": now, "expires_at": ends}
        if self.store.replace(LIVE_SID, key, renewed, _live_for(tenant, renewed, now), expect=mark):
            return True
        return self.sid_live(tenant, sid)  # another write came first: renewed, or ended

    def end_all(self, account_id: str) -> list[dict]:
        """End every session of an account, in every browser (indexed as one family); the
        sessions it ended, for their clients to hear of it."""
        ended = [entry for entry in self.store.family(_family(account_id)) if "sid" in entry]
        self.store.revoke_family(_family(account_id), mark_ttl=1)
        return ended

    def end_others(self, tenant, account_id: str) -> list[dict]:
        """End the account's sessions in every other browser, keeping this browser's: after a
        change of an authentication factor (ASVS 7.4.3). Its sid mark goes first, so what is
        bound to a session (codes, refreshes without offline_access) ends at once; a session
        from before sessions knew their own key ends when it is next used a minute or more after
        its last use (when load() looks at the mark). The sessions it ended."""
        current = self.load(tenant) if has_request_context() else None  # (the CLI has no browser)
        ended = [session for session in self.of_account(tenant, account_id)
                 if session["sid"] != (current or {}).get("sid")]
        self.end_these(tenant, ended)
        return ended

    def of_account(self, tenant, account_id: str, live=False) -> list[dict]:
        """The account's sessions with this tenant, in every browser. An entry stays in the store
        until its absolute end: `live` leaves out those idle past their timeout (the sid mark
        lapsed) or ended, where the user is no longer signed in."""
        return [entry for entry in self.store.family(_family(account_id)) if "sid" in entry
                and entry["tenant"] == tenant.id and (not live or self.sid_live(tenant, entry["sid"]))]

    def end_these(self, tenant, sessions: list[dict]) -> None:
        for session in sessions:
            self.store.delete(LIVE_SID, _sid_key(tenant, session["sid"]))
            if session.get("id"):
                self.store.delete(SESSION, session["id"])

    def clear_cookie(self, tenant, response):
        response.delete_cookie(COOKIE, path=f"/t/{tenant.id}", secure=self.secure, httponly=True, samesite="Lax")


def _sid_key(tenant, sid: str) -> str:
    return f"{tenant.id}:{sid}"


def _mark(session: dict, now: float) -> dict:
    return {"seen_at": now, "expires_at": session["expires_at"]}


def _live_for(tenant, session: dict, now: float) -> float:
    """How long the sid mark lasts unless the session is used again: it lapses with the session's
    idle timeout, whether or not the browser ever comes back to find the session idle."""
    return min(tenant.tokens.session_idle_timeout.total_seconds(), session["expires_at"] - now)


def _family(account_id: str) -> str:
    return f"sessions:{account_id}"


def _second_factor(tenant, result: dict) -> bool:
    """Whether this authentication proved a factor the step-up level stands for: a TAC by SMS,
    or an authenticator code where the tenant accepts one. Whatever path a flow took, a session
    is never elevated on the password alone."""
    accepted = {"sms", "otp"} if tenant.tac.totp_satisfies else {"sms"}
    return bool(accepted & set(result.get("amr", ())))
