"""Whether a grant given earlier still holds: asked by the code exchange and by the refresh grant
(before it rotates a token), and by introspection and UserInfo before they call a token active."""
from authlib.oauth2.rfc6749.util import scope_to_list

from policies.account_state import HOLDING_STATES
from ..ephemeral import ACCOUNT_GRANT


def account_holds_grants(provider, tenant, account_id: str) -> bool:
    """Not deactivated, terminated, dormant, pending or gone."""
    return provider.accounts.state(tenant.id, account_id) in HOLDING_STATES


def session_holds_grant(provider, tenant, sid: str, scope: str, refreshing: bool = False) -> bool:
    """Without offline_access, a grant lives no longer than the sign-in it came from (OIDC Core
    11): a logout, a password change or the session's expiry ends it. A refresh under it counts
    as use of the session; an introspection does not."""
    if "offline_access" in scope_to_list(scope):
        return True
    return provider.sessions.use_sid(tenant, sid) if refreshing else provider.sessions.sid_live(tenant, sid)


def access_holds(provider, tenant, claims: dict) -> bool:
    """Whether a user's access token (signed, unexpired, not revoked) still stands at UserInfo and
    introspection: its account can still sign in, and one from a grant bound to the sign-in (no
    offline_access, so not listed under the account) ends with that sign-in, as its refresh token
    does (node-oidc-provider's expiresWithSession). A resource server that only checks the JWT
    learns of a logout when the token expires."""
    if not account_holds_grants(provider, tenant, claims["sub"]):
        return False
    sid, grant_id = claims.get("sid"), claims.get("gid")
    if not sid or not grant_id:
        return True
    return provider.sessions.sid_live(tenant, sid) or provider.store.get(ACCOUNT_GRANT, grant_id) is not None
