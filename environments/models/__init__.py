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
from .invitations import Invitation
from .rotations import Rotation
from .tokens import ApiToken, RuntimeInstance, RuntimeToken, Token
from .values import Binding, ConfigEntry, EncryptedValue, Variable

__all__ = [
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
    "Invitation",
    "Membership",
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
]
