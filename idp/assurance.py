"""Step-up: what assurance an authorization request asks for, and whether the session has it.

A portal asks with `acr_values` or an essential `acr` in the `claims` parameter (OIDC Core
5.5.1.1), and may bind the approval to a transaction with `authorization_details` (RFC 9396).
An elevated level counts for the tenant's step-up lifetime, then steps down to the base level;
a TAC approves one transaction: its binding is used up when the code is issued.
"""
import time
from dataclasses import dataclass, field

from datetime import datetime, timezone

from policies.authorization_details import describe, validate
from policies.step_up import acr_satisfied
from policies.tac import tac_binding
from .oauth.params import json_param


class AssuranceError(ValueError):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


@dataclass
class AssuranceRequest:
    requested: tuple[str, ...] = ()
    details: list = field(default_factory=list)
    binding: str | None = None        # the transaction a TAC must be bound to
    target_acr: str | None = None     # the strongest requested level this tenant knows

    @property
    def elevated(self) -> bool:
        return self.target_acr is not None


def essential_acr(claims: dict) -> tuple[str, ...]:
    """The acr values of an essential `acr` in the claims parameter (OIDC Core 5.5.1.1)."""
    acr = claims.get("id_token", {}).get("acr")
    if not (isinstance(acr, dict) and acr.get("essential")):
        return ()
    if "value" not in acr and "values" not in acr:
        return ()  # Core 5.5.1: essential alone asks for the claim, not for a level
    listed = [acr["value"]] if "value" in acr else acr.get("values")
    if not (isinstance(listed, list) and listed and all(isinstance(v, str) for v in listed)):
        raise AssuranceError("invalid_request", "claims: an essential acr needs value (a string) or values (strings)")
    return tuple(listed)


def assurance_request(tenant, params: dict, claims: dict, client_id: str) -> AssuranceRequest:
    essential = essential_acr(claims)
    requested = tuple(params.get("acr_values", "").split()) + essential
    ladder = tenant.assurance.acr_values
    if essential and not set(essential) & set(ladder):
        # Core 5.5.1.1: an essential acr that cannot be met fails the authentication
        raise AssuranceError("unmet_authentication_requirements", "none of the essential acr values is offered here")
    known = [v for v in requested if v in ladder[1:]]
    target = min(known, key=ladder.index) if known else None  # acr_values: any one will do
    details = []
    if params.get("authorization_details"):
        verdict, details = validate(json_param(params["authorization_details"]), tenant.authorization_details)
        if not verdict:
            raise AssuranceError("invalid_authorization_details", "; ".join(verdict.reasons)[:300])
        if not target:  # a transaction is approved with a TAC bound to it, never by the session alone
            raise AssuranceError("invalid_request", "authorization_details needs a step-up level in acr_values")
    binding = tac_binding(client_id, "step_up", details) if details else None
    return AssuranceRequest(requested, details, binding, target)


def reported_acr(tenant, essential: tuple[str, ...], acr: str) -> str:
    """The acr to tell the client: for an essential acr asked with values, one of those values
    (Core 5.5.1.1 MUST), the strongest that the session's level `acr` meets on the ladder."""
    ladder = tenant.assurance.acr_values
    if not essential or acr in essential or acr not in ladder:
        return acr
    met = [value for value in essential if value in ladder and ladder.index(value) <= ladder.index(acr)]
    return max(met, key=ladder.index) if met else acr


def effective(tenant, session: dict, now: float | None = None) -> tuple[str, list[str]]:
    """The session's acr and amr now: elevated while the step-up is fresh, else the base."""
    now = now or time.time()
    step_up = session.get("step_up")
    if step_up and now - step_up["at"] <= tenant.assurance.step_up_lifetime.total_seconds():
        return step_up["acr"], step_up["amr"]
    return session["acr"], session["amr"]


def step_down(tenant, session: dict, now: float | None = None) -> dict | None:
    """While a step-up is fresh: when it lapses, and the level the session falls back to then."""
    acr, amr = effective(tenant, session, now)
    if (acr, amr) == (session["acr"], session["amr"]):
        return None
    lapses = session["step_up"]["at"] + tenant.assurance.step_up_lifetime.total_seconds()
    return {"at": lapses, "acr": session["acr"], "amr": session["amr"]}


def satisfied(tenant, session: dict | None, request: AssuranceRequest) -> bool:
    if not request.requested:
        return True
    if session is None:
        return True  # the login prompt comes first
    step_up = session.get("step_up") or {}
    verdict = acr_satisfied(request.requested, effective(tenant, session)[0],
                            datetime.fromtimestamp(step_up.get("at", session["auth_time"]), timezone.utc),
                            datetime.now(timezone.utc), tenant.assurance.acr_values, tenant.assurance.step_up_lifetime)
    if not verdict:
        return False
    # a TAC approves one transaction: these details need a code bound to them
    return request.binding is None or step_up.get("binding") == request.binding


def details_lines(tenant, details: list, locale: str) -> list[str]:
    return [describe(d, tenant.authorization_details[d["type"]], locale) for d in details]
