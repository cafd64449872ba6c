"""Shared groups pages (SPEC §19): a deployment's groups, one group's variables (written like
an environment's), and the groups an environment links (a form on the environment page)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import permissions, selectors, services
from ..actors import Actor
from ..errors import ServiceError
from ..models import Group, Role
from ..permissions import has_role
from .pages import HtmxHttpRequest, deployment_tabs, no_store


def _group_page(request, deployment, role, group: Group, *, error: str = "", status: int = 200):
    need = services.groups.role_to_write(group)
    context = deployment_tabs(deployment, role) | {
        "tab": "groups",
        "group": group,
        "rows": selectors.group_variable_rows(group),
        "linking": selectors.linking_environments(group),
        "can_write_group": has_role(role, need),
        "needs_admin": need == Role.ADMIN,
        "error": error,
        "form_key": request.POST.get("key", "") if request.method == "POST" else "",
    }
    return render(request, "environments/group.html", context, status=status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def groups(request: HtmxHttpRequest, deployment_id: int) -> HttpResponse:
    """Every member sees the groups; developers create them."""
    need = permissions.TO_MANAGE_ENVIRONMENTS if request.method == "POST" else Role.VIEWER
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id, need=need)
    error, status = "", 200
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            group = services.create_group(
                deployment=deployment, name=name, actor=Actor.from_request(request)
            )
        except ServiceError as exc:
            error, status = exc.message, exc.status
        else:
            messages.success(request, f"Created the group {group.name}.")
            return redirect("group", deployment.pk, group.name)
    context = deployment_tabs(deployment, role) | {
        "tab": "groups",
        "summaries": selectors.group_summaries(deployment),
        "can_create_group": has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
        "error": error,
    }
    return render(request, "environments/groups.html", context, status=status)


@no_store
@require_http_methods(["GET", "POST"])
@login_required
def group_detail(request: HtmxHttpRequest, deployment_id: int, group: str) -> HttpResponse:
    """A group's variables; POST sets one (the role that writes every environment linking
    the group: admin if production does)."""
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    found = selectors.get_group(deployment, group)
    if request.method == "GET":
        return _group_page(request, deployment, role, found)
    if not has_role(role, services.groups.role_to_write(found)):
        raise PermissionDenied("Writing this group needs a higher role.")
    key = request.POST.get("key", "").strip()
    value = request.POST.get("value", "")
    existing = next((r for r in selectors.group_variable_rows(found) if r.key == key), None)
    if existing is not None and existing.is_secret and value == "":
        messages.success(request, f"{key} is unchanged.")
        return redirect("group", deployment.pk, found.name)
    try:
        services.set_group_variables(
            group=found,
            items=[
                services.VariableInput(key, value, True if request.POST.get("is_secret") else None)
            ],
            actor=Actor.from_request(request),
            role=role,
        )
    except services.RoleTooLow as exc:
        raise PermissionDenied(str(exc)) from None
    except ServiceError as exc:
        return _group_page(request, deployment, role, found, error=exc.message, status=exc.status)
    messages.success(request, f"Saved {key} in {found.name}.")
    return redirect("group", deployment.pk, found.name)


@no_store
@require_POST
@login_required
def group_variable_delete(
    request: HtmxHttpRequest, deployment_id: int, group: str, key: str
) -> HttpResponse:
    deployment, role = selectors.get_deployment_for_user(request.user, deployment_id)
    found = selectors.get_group(deployment, group)
    if not has_role(role, services.groups.role_to_write(found)):
        raise PermissionDenied("Writing this group needs a higher role.")
    try:
        services.delete_group_variable(
            group=found, key=key, actor=Actor.from_request(request), role=role
        )
    except services.RoleTooLow as exc:
        raise PermissionDenied(str(exc)) from None
    except ServiceError as exc:
        return _group_page(request, deployment, role, found, error=exc.message, status=exc.status)
    messages.success(request, f"Deleted {key} from {found.name}.")
    return redirect("group", deployment.pk, found.name)


@no_store
@require_POST
@login_required
def environment_groups(request: HtmxHttpRequest, deployment_id: int, name: str) -> HttpResponse:
    """Link groups to an environment, in order (the environment page's form)."""
    environment, _ = selectors.get_environment_for_user(
        request.user, deployment_id, name, need=permissions.to_write_variables
    )
    names = [n.strip() for n in request.POST.get("groups", "").split(",") if n.strip()]
    url = reverse("environment", args=[deployment_id, environment.name]) + "#groups"
    try:
        services.set_environment_groups(
            environment=environment, groups=names, actor=Actor.from_request(request)
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(url)
    messages.success(
        request, f"{environment.name} links {', '.join(names) if names else 'no group'}."
    )
    return redirect(url)
