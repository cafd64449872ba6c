"""The tables, by sub-domain; every model is importable from `environments.models`."""

from .audit_log import AuditChainHead, AuditEvent, AuditTombstone
from .change_requests import ChangeRequest, Protection, Review
from .data_services import DataServer, DataService
from .deployments import (
    ROLE_RANK,
    ConfigChanges,
    Deployment,
    Domain,
    Environment,
    Membership,
    Release,
    Role,
    Version,
)
from .groups import Group, GroupEntry, GroupLink
from .invitations import Invitation
from .oidc import GITHUB_ISSUER, MAX_TTL_SECONDS, OidcPolicy, OidcToken, OidcUsedJti
from .rotations import Rotation
from .tokens import ApiToken, RuntimeInstance, RuntimeToken, Token
from .values import Binding, ConfigEntry, EncryptedValue, Variable
from .webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "GITHUB_ISSUER",
    "MAX_TTL_SECONDS",
    "ROLE_RANK",
    "ApiToken",
    "AuditChainHead",
    "AuditEvent",
    "AuditTombstone",
    "Binding",
    "ChangeRequest",
    "ConfigChanges",
    "ConfigEntry",
    "DataServer",
    "DataService",
    "Deployment",
    "Domain",
    "EncryptedValue",
    "Environment",
    "Group",
    "GroupEntry",
    "GroupLink",
    "Invitation",
    "Membership",
    "OidcPolicy",
    "OidcToken",
    "OidcUsedJti",
    "Protection",
    "Release",
    "Review",
    "Role",
    "Rotation",
    "RuntimeInstance",
    "RuntimeToken",
    "Token",
    "Variable",
    "Version",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
