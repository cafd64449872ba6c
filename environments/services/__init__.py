"""Every write. Keyword-only, one verb each, one transaction each, each writing its audit event.

Views, the JSON API, management commands and the admin all call these, so a rule lives here once.
Permission checks (who may call) are the callers' job, through `selectors` and `permissions`;
domain rules (what may happen) are enforced here. One module per sub-domain; the names are
re-exported here, so callers write `services.set_variable(...)`.

Every write takes its row locks in one order, all before its audit event takes the chain's
head: the lock order is written down once, in `environment_writes`.
"""

from ..actors import Actor
from .bindings import create_binding, delete_binding, update_binding
from .change_requests import (
    Applied,
    apply_change_request,
    approve_change_request,
    cancel_change_request,
    expire_change_requests,
    reject_change_request,
    request_again,
    reveal_change_values,
    set_protection,
)
from .data_servers import add_data_server, check_data_server, remove_data_server
from .data_services import (
    create_data_service,
    delete_data_service,
    retry_data_service,
)
from .deployments import create_deployment, delete_deployment, set_max_secret_age
from .disclosure import (
    RuntimeFetch,
    fetch_runtime_env_for_token,
    record_compare,
    reveal_key_history,
    reveal_plain_values,
    reveal_variable,
)
from .domains import ApexResult, add_domain, remove_domain, set_apex_domain
from .drift import CopyResult, copy_keys
from .environments import (
    create_environment,
    default_promotion_target,
    delete_environment,
    set_promotion_target,
)
from .groups import (
    RoleTooLow,
    create_group,
    delete_group,
    delete_group_variable,
    restore_group_variable,
    reveal_explanation,
    reveal_group_values,
    set_environment_groups,
    set_group_variables,
)
from .invitations import (
    Acceptance,
    InvitationUnusable,
    SentInvitation,
    accept_invitation,
    accept_invitation_with_new_account,
    invite_member,
    revoke_invitation,
)
from .members import remove_member, set_member
from .oidc import (
    Minted,
    OidcRefused,
    create_oidc_policy,
    delete_oidc_policy,
    exchange_oidc_token,
    revoke_oidc_token,
)
from .releases import (
    ANY_VERSION,
    AnyVersion,
    apply_changes,
    create_version,
    deploy_version,
    promote,
    register_version,
    rollback,
    set_config_changes,
    set_required_keys,
)
from .rotation import RotationResult, rotate_encryption_keys
from .rotations import (
    cancel_rotation,
    force_revoke,
    set_rotation_schedule,
    start_due_rotations,
    start_rotation,
)
from .tokens import (
    create_api_token,
    create_runtime_token,
    hash_token,
    revoke_api_token,
    revoke_runtime_token,
    touch_token,
)
from .variable_import import ImportDiff, import_variables, preview_import
from .variables import (
    VariableInput,
    add_variable,
    delete_variable,
    mark_variable_secret,
    restore_variable,
    set_variable,
    set_variables,
)

__all__ = [
    "ANY_VERSION",
    "Acceptance",
    "Actor",
    "AnyVersion",
    "ApexResult",
    "Applied",
    "CopyResult",
    "ImportDiff",
    "InvitationUnusable",
    "Minted",
    "OidcRefused",
    "RoleTooLow",
    "RotationResult",
    "RuntimeFetch",
    "SentInvitation",
    "VariableInput",
    "accept_invitation",
    "accept_invitation_with_new_account",
    "add_data_server",
    "add_domain",
    "add_variable",
    "apply_change_request",
    "apply_changes",
    "approve_change_request",
    "cancel_change_request",
    "cancel_rotation",
    "check_data_server",
    "copy_keys",
    "create_api_token",
    "create_binding",
    "create_data_service",
    "create_deployment",
    "create_environment",
    "create_group",
    "create_oidc_policy",
    "create_runtime_token",
    "create_version",
    "default_promotion_target",
    "delete_binding",
    "delete_data_service",
    "delete_deployment",
    "delete_environment",
    "delete_group",
    "delete_group_variable",
    "delete_oidc_policy",
    "delete_variable",
    "deploy_version",
    "exchange_oidc_token",
    "expire_change_requests",
    "fetch_runtime_env_for_token",
    "force_revoke",
    "hash_token",
    "import_variables",
    "invite_member",
    "mark_variable_secret",
    "preview_import",
    "promote",
    "record_compare",
    "register_version",
    "reject_change_request",
    "remove_data_server",
    "remove_domain",
    "remove_member",
    "request_again",
    "restore_group_variable",
    "restore_variable",
    "retry_data_service",
    "reveal_change_values",
    "reveal_explanation",
    "reveal_group_values",
    "reveal_key_history",
    "reveal_plain_values",
    "reveal_variable",
    "revoke_api_token",
    "revoke_invitation",
    "revoke_oidc_token",
    "revoke_runtime_token",
    "rollback",
    "rotate_encryption_keys",
    "set_apex_domain",
    "set_config_changes",
    "set_environment_groups",
    "set_group_variables",
    "set_max_secret_age",
    "set_member",
    "set_promotion_target",
    "set_protection",
    "set_required_keys",
    "set_rotation_schedule",
    "set_variable",
    "set_variables",
    "start_due_rotations",
    "start_rotation",
    "touch_token",
    "update_binding",
]
