"""Web pages. Thin views: a selector reads (and checks the role), a service writes, a template
renders. Each region htmx swaps is a partial of its page's template; the view renders
"page.html#partial" when `request.htmx`, the whole page otherwise, so that every action also
works as a plain form post without JavaScript.
"""

from __future__ import annotations

from .api_tokens import api_token_revoke, api_tokens  # noqa: F401
from .apply import apply_changes, config_changes, pending_changes  # noqa: F401
from .audit_log import audit_export, audit_log  # noqa: F401
from .compare import compare  # noqa: F401
from .deployment import deployment_detail, promote  # noqa: F401
from .deployment_list import deployment_create, deployment_list  # noqa: F401
from .deployment_settings import deployment_delete, deployment_settings, required_keys  # noqa: F401
from .env_import import variable_import  # noqa: F401
from .environment import (  # noqa: F401
    binding_delete,
    binding_edit,
    bindings,
    domain_delete,
    domains,
    environment_detail,
    promotion_target,
    runtime_token_revoke,
    runtime_tokens,
    variable_delete,
    variable_edit,
    variable_reveal,
    variables,
)
from .environment_delete import environment_delete  # noqa: F401
from .environment_form import environment_create  # noqa: F401
from .environment_history import environment_history, rollback  # noqa: F401
from .members import member_remove, member_role, members  # noqa: F401
from .variable_history import variable_history, variable_restore  # noqa: F401
from .version_form import version_create  # noqa: F401
