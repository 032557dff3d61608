"""User journeys as flows: plans of stages run by an executor (authentik's idea).

A flow is a module in `flows/catalog/` that registers itself with `@flow(name)`; the interaction
policy (policies/interaction.py) names the prompt, and the prompt's name is the flow's name.
Adding a flow is adding a module. Flask appears only in `flows/views.py`.
"""
