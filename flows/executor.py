"""Runs a flow's plan: which stage is current, and what a submitted form does to the plan.

The plan is plain JSON in the ephemeral store (no pickle): {"flow", "stage", "result", ...}.
"""
from dataclasses import dataclass

from .stage import Invalid, Ok, Restart, StageContext, plan_for

INTERACTION = "interaction"            # the ephemeral-store kind holding plans
INTERACTION_COOKIE = "idp_interaction"  # binds a plan to the browser that started it


@dataclass
class Step:
    kind: str                   # "show" | "done" | "restart"
    invalid: Invalid | None = None


def current_stage(ctx: StageContext):
    """The first stage from the plan's position on that applies (skipped ones are passed)."""
    plan = plan_for(ctx.interaction["flow"], ctx.tenant)
    index = ctx.interaction.get("stage", 0)
    while index < len(plan.stages) and not plan.stages[index].applies(ctx):
        index += 1
    ctx.interaction["stage"] = index
    return plan.stages[index] if index < len(plan.stages) else None


def submit(ctx: StageContext, form) -> Step:
    stage = current_stage(ctx)
    if stage is None:
        return Step("done")
    outcome = stage.submit(ctx, form)
    if isinstance(outcome, Restart):
        ctx.interaction.update(stage=0, result={}, state={})
        return Step("restart")
    if isinstance(outcome, Invalid):
        return Step("show", outcome)
    assert isinstance(outcome, Ok)
    result = ctx.interaction.setdefault("result", {})
    for key, value in outcome.result.items():
        # authentication methods add up (RFC 8176 amr); everything else is the latest word
        result[key] = [*result.get(key, []), *(v for v in value if v not in result.get(key, []))] \
            if key == "amr" else value
    ctx.interaction["stage"] = ctx.interaction.get("stage", 0) + 1
    return Step("done" if current_stage(ctx) is None else "show")
