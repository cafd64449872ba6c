"""An environment's protection (SPEC §15): the environment page's "Protection" section, with
the policy (a form for owners) and the open change requests, and the owner's form post."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..permissions import has_role
from .forms.change_requests import ProtectionForm
from .pages import Context, HtmxHttpRequest, no_store

if TYPE_CHECKING:  # environment_page lists this section: it imports this module
    from .environment_page import EnvironmentPage


def protection_section(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """The environment page's "Protection" section: the policy (a form for owners) and the
    open requests."""
    environment = page.environment
    protection = selectors.protection_of(environment)
    form = None
    if has_role(page.role, permissions.TO_PROTECT):
        form = page.bound(ProtectionForm) or ProtectionForm(
            initial={
                "required_approvals": protection.required_approvals if protection else 0,
                "allow_self_approval": protection.allow_self_approval if protection else False,
                "break_glass": protection.break_glass if protection else True,
            }
        )
    return {
        "protection": protection,
        "protection_form": form,
        "open_requests": selectors.open_requests(environment),
        "protection_notice": page.notice if page.section == "protection" else "",
    }


@no_store
@require_POST
@login_required
def environment_protection(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    from .environment_page import EnvironmentPage, after_write, render_environment

    environment, role = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.TO_PROTECT
    )
    form = ProtectionForm(request.POST)
    if not form.is_valid():
        page = EnvironmentPage(environment, role, "protection", status=400, form=form)
        return render_environment(request, page)
    data = form.cleaned_data
    services.set_protection(
        environment=environment,
        required_approvals=data["required_approvals"],
        allow_self_approval=data["allow_self_approval"],
        break_glass=data["break_glass"],
        actor=Actor.from_request(request),
    )
    approvals = data["required_approvals"]
    notice = (
        f"{environment.name} is protected: a release needs {approvals} approval"
        f"{'s' if approvals > 1 else ''}."
        if approvals
        else f"{environment.name} is no longer protected."
    )
    return after_write(request, EnvironmentPage(environment, role, "protection", notice=notice))
