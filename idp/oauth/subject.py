"""The signed-in user as Authlib carries it through a grant: the account plus how and when they
authenticated, and the grant (token family) everything issued now belongs to."""
import hashlib
import secrets
from dataclasses import dataclass, field


def digest(value: str) -> str:
    """Store look-ups by hash, so a leaked store does not leak usable codes or tokens."""
    # surrogatepass: a lone surrogate from JSON ("\ud800") hashes instead of raising
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def store_key(tenant, value: str) -> str:
    """Where a code or token lives in the ephemeral store: hashed, and scoped to its tenant, since
    the store is shared and client ids repeat across tenants (a token is void at another issuer)."""
    return digest(f"{tenant.id}:{value}")


def new_id() -> str:
    return secrets.token_urlsafe(16)


@dataclass
class Subject:
    account_id: str
    auth_time: int
    acr: str
    amr: list[str]
    sid: str
    grant_id: str = field(default_factory=new_id)
    # absolute end of the refresh-token family (ASVS 10.4.8); set when the family starts
    family_expires_at: int | None = None
    # claim names the RP asked for with the `claims` parameter (OIDC Core 5.5)
    userinfo_claims: list[str] = field(default_factory=list)
    id_token_claims: list[str] = field(default_factory=list)
    # RFC 9396 details the user approved for this grant (returned with the tokens)
    authorization_details: list[dict] = field(default_factory=list)
    # for a step-up: when it lapses, and the session's own acr and amr that a refresh after
    # that carries instead (a refresh must not renew a TAC level the session no longer has)
    step_down: dict | None = None

    def get_user_id(self):
        return self.account_id

    def to_dict(self):
        # shallow (asdict deep-copies, ~10 us): the stores serialise the payload at once
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data):
        return cls(**data)
