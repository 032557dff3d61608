"""Stages and flows: a stage renders one challenge and answers ok, invalid or restart."""
import importlib
import pkgutil
from functools import cache
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Ok:
    """The stage is done; `result` is merged into the flow result (account_id, amr, ...)."""
    result: dict = field(default_factory=dict)


@dataclass
class Invalid:
    """Show the same stage again with a message (a catalog key) and kept field values. `error`
    False: the message reports, it does not refuse (a TAC resent), so the page is no error page."""
    message: str
    values: dict = field(default_factory=dict)
    status: int = 200
    error: bool = True


@dataclass
class Restart:
    """Start the flow over (e.g. the interaction went stale)."""
    message: str = "restart"


@dataclass
class StageContext:
    tenant: Any
    interaction: dict     # the JSON plan in the ephemeral store; stages may keep state in ["state"]
    services: Any          # flows.services.FlowServices
    ip: str | None
    locale: str


class Stage:
    name = "stage"
    template = "stage.html"

    def applies(self, ctx: StageContext) -> bool:
        """Policies guard stages: a stage that does not apply is skipped (e.g. no TOTP enrolled)."""
        return True

    def challenge(self, ctx: StageContext) -> dict:
        """Template variables for the form."""
        return {}

    def submit(self, ctx: StageContext, form) -> Ok | Invalid | Restart:
        raise NotImplementedError


@dataclass(frozen=True)
class Flow:
    name: str
    stages: tuple[Stage, ...]


_FLOWS: dict[str, Callable[[Any], Flow]] = {}


def flow(name: str):
    """Register a flow factory: `factory(tenant) -> Flow` (policies may shape the plan)."""
    def register(factory):
        _FLOWS[name] = factory
        return factory
    return register


def plan_for(name: str, tenant) -> Flow:
    _discover()
    return _FLOWS[name](tenant)


@cache
def _discover():
    """Import every flow module once, so each registers itself."""
    from . import catalog
    for module in pkgutil.iter_modules(catalog.__path__):
        importlib.import_module(f"{catalog.__name__}.{module.name}")
