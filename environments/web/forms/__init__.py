"""Forms for the web pages, one module per resource. They only validate and normalise; the
services assign and save.

Validation rules (keys, hostnames, URLs, names) live in `rules`; the forms call them so that a
page shows the same message as the API, next to the field it belongs to.
"""

from .bindings import BindingEditForm, BindingForm, KindSelect
from .data_services import DESTROYS, KIND_LABELS, DataServerForm, DataServiceForm
from .deployments import (
    NEW_ENVIRONMENT,
    ApexForm,
    AuditFilterForm,
    CompareForm,
    ConfirmNameForm,
    DeploymentForm,
    MemberForm,
    PromoteForm,
    RoleForm,
    SecretAgeForm,
    VersionForm,
)
from .environments import (
    ApplyForm,
    ConfigChangesForm,
    DomainForm,
    EnvironmentForm,
    PromotionTargetForm,
    RollbackForm,
)
from .fields import PageField, PageForm, ValueTextarea
from .oidc import OidcPolicyForm
from .submission import Submission, add_service_error, refusal_status, submit
from .tokens import NO_EXPIRY, TOKEN_LIFETIMES, ApiTokenForm, RuntimeTokenForm
from .variables import ImportForm, RequiredKeysForm, RestoreForm, VariableEditForm, VariableForm

__all__ = [
    "DESTROYS",
    "KIND_LABELS",
    "NEW_ENVIRONMENT",
    "NO_EXPIRY",
    "TOKEN_LIFETIMES",
    "ApexForm",
    "ApiTokenForm",
    "ApplyForm",
    "AuditFilterForm",
    "BindingEditForm",
    "BindingForm",
    "CompareForm",
    "ConfigChangesForm",
    "ConfirmNameForm",
    "DataServerForm",
    "DataServiceForm",
    "DeploymentForm",
    "DomainForm",
    "EnvironmentForm",
    "ImportForm",
    "KindSelect",
    "MemberForm",
    "OidcPolicyForm",
    "PageField",
    "PageForm",
    "PromoteForm",
    "PromotionTargetForm",
    "RequiredKeysForm",
    "RestoreForm",
    "RoleForm",
    "RollbackForm",
    "RuntimeTokenForm",
    "SecretAgeForm",
    "Submission",
    "ValueTextarea",
    "VariableEditForm",
    "VariableForm",
    "VersionForm",
    "add_service_error",
    "refusal_status",
    "submit",
]
