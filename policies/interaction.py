"""The interaction policy: what an authorization request still needs from the user.

node-oidc-provider's idea (helpers/interaction_policy): an ordered list of prompts, each a list
of named checks. A check is a pure function of the request and session facts; it returns a
reason when the prompt is needed. The first prompt with a reason wins; its name is the flow
that will run (OIDC Core 3.1.2.1 `prompt`, `max_age`, `id_token_hint`, `acr_values`).
"""
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class InteractionFacts:
    now: int
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    has_session: bool = False
    session_sub: str | None = None
    auth_time: int | None = None
    account_usable: bool = False        # the session's account can still sign in
    hint_sub: str | None = None         # subject of a valid id_token_hint
    just_authenticated: bool = False    # the user finished a sign-in for this very request
    must_change_password: bool = False
    acr_satisfied: bool = True          # decided by policies.step_up for the requested acr


Check = Callable[[InteractionFacts], str | None]


def no_session(f: InteractionFacts):
    return None if f.has_session else "no_session"


def account_not_usable(f: InteractionFacts):
    return None if not f.has_session or f.account_usable else "account_not_usable"


def prompt_login(f: InteractionFacts):
    return "login_prompt" if "login" in f.prompt and not f.just_authenticated else None


def prompt_select_account(f: InteractionFacts):
    # One SSO session per tenant and browser: choosing an account means signing in with it, so
    # the sign-in page is the account chooser (the user may enter another user ID)
    return "select_account" if "select_account" in f.prompt and not f.just_authenticated else None


def max_age_exceeded(f: InteractionFacts):
    if f.max_age is None or f.just_authenticated or f.auth_time is None:
        return None
    # OIDC Core 3.1.2.1 (errata set 2): max_age=0 is equivalent to prompt=login, even within the
    # second of the last sign-in
    return "max_age" if f.max_age == 0 or f.now - f.auth_time > f.max_age else None


def id_token_hint_mismatch(f: InteractionFacts):
    # after a sign-in it is no longer asked: another user signed in, the request fails instead
    return "id_token_hint" if hint_unmet(f) and not f.just_authenticated else None


def hint_unmet(f: InteractionFacts) -> bool:
    """id_token_hint names someone other than the session's user (OIDC Core 3.1.2.1)."""
    return bool(f.hint_sub) and f.hint_sub != f.session_sub


def must_change_password(f: InteractionFacts):
    return "must_change_password" if f.must_change_password else None


def acr_too_low(f: InteractionFacts):
    return None if f.acr_satisfied else "acr_too_low"


@dataclass(frozen=True)
class Prompt:
    name: str
    checks: tuple[Check, ...]
    # the OIDC error for prompt=none when this prompt is needed
    error: str = "interaction_required"


@dataclass(frozen=True)
class Needed:
    prompt: str
    reasons: tuple[str, ...]
    error: str


DEFAULT_POLICY: tuple[Prompt, ...] = (
    Prompt("login", (no_session, account_not_usable, prompt_login, prompt_select_account,
                     max_age_exceeded, id_token_hint_mismatch),
           error="login_required"),
    Prompt("password_change", (must_change_password,)),
    Prompt("step_up", (acr_too_low,)),
)


def evaluate(facts: InteractionFacts, policy: tuple[Prompt, ...] = DEFAULT_POLICY) -> Needed | None:
    for prompt in policy:
        reasons = tuple(r for r in (check(facts) for check in prompt.checks) if r)
        if reasons:
            return Needed(prompt.name, reasons, prompt.error)
    return None


