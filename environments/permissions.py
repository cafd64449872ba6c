"""Which role each action needs (SPEC §5). The views and the API ask these; nothing else decides."""

from __future__ import annotations

from .models import ROLE_RANK, Environment, Role


def has_role(role: str | None, need: str) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[need]


def to_write_variables(environment: Environment) -> Role:
    return Role.ADMIN if environment.is_production else Role.DEVELOPER


def to_deploy_into(environment: Environment) -> Role:
    """Deploy, promote into or roll back an environment."""
    return Role.ADMIN if environment.is_production else Role.DEVELOPER


def to_manage_data_services(environment: Environment) -> Role:
    """Create, retry, destroy or detach an environment's data services (SPEC §13): MIOSA owns
    their credentials, so a developer may give a non-production environment its own."""
    return Role.ADMIN if environment.is_production else Role.DEVELOPER


TO_MANAGE_ENVIRONMENTS = Role.DEVELOPER
TO_CREATE_VERSIONS = Role.DEVELOPER
TO_MANAGE_BINDINGS = Role.ADMIN
TO_MANAGE_DOMAINS = Role.ADMIN
TO_MANAGE_RUNTIME_TOKENS = Role.ADMIN
TO_MANAGE_OIDC = Role.ADMIN  # CI trust policies, and revoking the tokens they minted
TO_REVEAL = Role.ADMIN
TO_READ_AUDIT = Role.ADMIN  # the log holds IP addresses and user agents
TO_MANAGE_REQUIRED_KEYS = Role.ADMIN  # set them; every member sees them (TO_SEE_SETTINGS)
TO_MANAGE_MEMBERS = Role.OWNER
TO_DELETE_DEPLOYMENT = Role.OWNER
# The deployment settings page: every member sees it (the required keys, the apex domain);
# admins change them.
TO_SEE_SETTINGS = Role.VIEWER
# Webhooks (SPEC §17): their URLs may carry a receiver's token, and they see every event.
TO_MANAGE_WEBHOOKS = Role.ADMIN
# Change requests for protected environments (SPEC §15): an owner protects an environment;
# a developer may ask for a release into it (production included), admins and owners review.
TO_PROTECT = Role.OWNER
TO_REQUEST_CHANGES = Role.DEVELOPER
TO_REVIEW_CHANGES = Role.ADMIN
TO_BREAK_GLASS = Role.OWNER
