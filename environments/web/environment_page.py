"""The environment page (templates/environments/environment.html) and its sections.

A response shows the whole page, or one section when htmx asked for it. What it shows besides
the rows (a notice, a bound form with its errors, the key being edited, a token shown once, a
revealed value) is an `EnvironmentPage`; `SECTIONS` says what each section adds to the
template's context. The views of the sections' own modules (variables, bindings, domains,
runtime tokens, apply, import) render through `render_environment` and `after_write`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from urllib.parse import urlencode

from django import forms as django_forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render

from .. import permissions, selectors, services
from ..models import DataService, Environment, RuntimeToken
from ..permissions import has_role
from ..selectors.data_services import managed_binding_ids, server_names_by_kind
from . import forms
from .forms.change_requests import ReasonForm
from .pages import Context, HtmxHttpRequest, env_url, environment_tabs, template_for
from .protection import protection_section
from .rotations import rotations_section

TEMPLATE = "environments/environment.html"
VARIABLES_PER_PAGE = 100


@dataclass(frozen=True)
class Revealed:
    """A plain variable's whole value, shown to an admin in this response only."""

    key: str
    value: str | None  # None: it cannot be decrypted with the configured keys


@dataclass(frozen=True)
class ImportStep:
    """The import section after a post: the refused form, or the dry run's diff to confirm."""

    form: forms.ImportForm | None = None
    diff: services.ImportDiff | None = None
    preview_id: str = ""


@dataclass(frozen=True)
class EnvironmentPage:
    """What one response of the environment page shows besides its rows.

    `section` is the region a write or a Cancel belongs to: htmx gets that region alone, a
    request without htmx the whole page. The notice and the error are that section's.
    """

    environment: Environment
    role: str
    section: str | None = None
    status: int = 200
    notice: str = ""
    error: str = ""
    form: django_forms.Form | None = None  # a bound form, with its errors, in its section
    adding: bool = False  # the add form stays open (a refused add)
    editing: str | int | None = None  # the variable key or binding id being edited
    deleting: str | int | None = None  # the variable key, binding or domain id being deleted
    focus: str = ""  # a variable just written: its page of the variables section is shown
    revealed: Revealed | None = None
    new_token: tuple[RuntimeToken, str] | None = None  # the raw token, shown once
    confirming_apply: bool = False
    oob: bool = False  # the pending section, sent beside another section's swap
    imported: ImportStep | None = None
    mode: str = ""  # a data service's deletion being confirmed: "destroy" or "detach"
    service: DataService | None = None  # the data service row polled alone

    def bound[F: django_forms.Form](self, kind: type[F]) -> F | None:
        """The page's bound form if it is one of `kind`'s."""
        return self.form if isinstance(self.form, kind) else None


# What the sections add to the context


def _binding_clash(page: EnvironmentPage, bindings: list[selectors.VariableRow]) -> Context:
    """A bind refused because its variable name is taken: what holds the name, to link to,
    and the typed URL kept in the browser (hx-preserve), never sent back by the server."""
    form = page.bound(forms.BindingForm)
    if form is None or not form.errors:
        return {}
    form.fields["url"].widget.attrs["hx-preserve"] = "true"
    # A field's refusal takes it out of cleaned_data: the name as typed, else the default.
    name = str(form["variable_name"].value() or "").strip() or form.default_variable_name()
    if form.has_error("variable_name", "binding_exists"):
        clash = next((row for row in bindings if row.key == name), None)
        return {"binding_clash": clash} if clash else {}
    if form.has_error("variable_name", "variable_clash"):
        return {"variable_clash": name}
    return {}


def _under_review(environment: Environment) -> bool:
    known = getattr(environment, "under_review", None)
    return selectors.is_protected(environment) if known is None else known


def _may_deploy(page: EnvironmentPage) -> bool:
    return has_role(page.role, permissions.to_deploy_into(page.environment))


def _permissions(page: EnvironmentPage) -> Context:
    environment, role = page.environment, page.role
    return {
        "can_write_variables": has_role(role, permissions.to_write_variables(environment)),
        "can_reveal": has_role(role, permissions.TO_REVEAL),
        # Production is the end of the pipeline: no target to pick, unless a refusal is shown.
        "can_set_target": _may_deploy(page)
        and (not environment.is_production or page.bound(forms.PromotionTargetForm) is not None),
        "can_manage_bindings": has_role(role, permissions.TO_MANAGE_BINDINGS),
        "can_manage_domains": has_role(role, permissions.TO_MANAGE_DOMAINS),
        "can_manage_tokens": has_role(role, permissions.TO_MANAGE_RUNTIME_TOKENS),
        "can_manage_data": has_role(role, permissions.to_manage_data_services(environment)),
        "can_delete": not environment.is_protected
        and has_role(role, permissions.TO_MANAGE_ENVIRONMENTS),
        # Pending changes and how config changes go live (SPEC §9): who may deploy there.
        "can_apply": _may_deploy(page),
        "can_set_config_changes": _may_deploy(page),
    }


@dataclass(frozen=True)
class VariableLinks:
    """A variable row's URLs."""

    history: str
    reveal: str
    edit: str
    delete: str


def _variable_links(environment: Environment, keys: list[str]) -> list[VariableLinks]:
    """Each key's URLs, reversed once per view with a placeholder key that is then replaced:
    reversing four URLs per row cost about 100 µs a row (docs/performance.md). The key is the
    last path component, so the placeholder's last occurrence is the one replaced."""
    placeholder = "_KEY_"
    templates = {}
    for field in fields(VariableLinks):
        url = env_url(environment, f"variable_{field.name}", key=placeholder)
        templates[field.name] = url.rpartition(placeholder)[::2]  # (before, after)
    return [
        VariableLinks(**{name: before + key + after for name, (before, after) in templates.items()})
        for key in keys
    ]


def _variables_page(
    environment: Environment,
    variables: list[selectors.VariableRow],
    *,
    page: str,
    query: str,
    focus: str,
    ages: bool = True,
) -> Context:
    """One page of the variables section (100 rows), filtered by a key substring.

    Rendering costs about as much per row as the rest of the page: paging keeps a page of
    500 variables within 3x an empty one (docs/performance.md). A row being edited, deleted,
    revealed or just written (`focus`) is shown on its page, unfiltered, whatever was asked."""
    if focus:
        query = ""
        position = bisect.bisect_left([r.key for r in variables], focus)
        page = str(position // VARIABLES_PER_PAGE + 1)
    matching = (
        [r for r in variables if query.casefold() in r.key.casefold()] if query else variables
    )
    try:
        number = max(1, int(page))
    except ValueError:
        number = 1
    current = Paginator(matching, VARIABLES_PER_PAGE).get_page(number)  # past the end: the last

    def page_query(number: int) -> str:
        params = {"page": number} if number > 1 else {}
        return "?" + urlencode(params | ({"q": query} if query else {})) if params or query else ""

    links = _variable_links(environment, [r.key for r in current.object_list])
    # Each secret's age and how many live instances run an older value (SPEC §14), for this
    # page of rows only: two queries, none when the page holds no secret.
    secret_keys = [r.key for r in current.object_list if r.is_secret] if ages else []
    found = selectors.secret_ages(environment.deployment, [environment], keys=secret_keys)
    return {
        "variables": current.object_list,
        "variable_listing": list(
            zip(
                current.object_list,
                links,
                [found.get((environment.name, r.key)) for r in current.object_list],
                strict=True,
            )
        ),
        "max_secret_age_days": environment.deployment.max_secret_age_days,
        "variable_count": len(variables),
        # The filter box and the pager show once there is more than one page.
        "variables_paged": len(variables) > VARIABLES_PER_PAGE or bool(query),
        "variables_page": current,
        "variables_query": query,
        # The query string of this page, and of its neighbours, for links and htmx requests.
        "variables_page_query": page_query(current.number),
        "variables_previous_query": page_query(current.number - 1)
        if current.has_previous()
        else None,
        "variables_next_query": page_query(current.number + 1) if current.has_next() else None,
    }


def _rows(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """The variables and bindings sections: preview rows, the keys that cannot be decrypted."""
    environment = page.environment
    variables_alone = request.htmx and page.section == "variables"
    rows = selectors.variable_rows([environment], include_bindings=not variables_alone)
    broken = [r for r in rows if r.undecryptable]
    variables = [r for r in rows if r.source == "env"]
    shown = (page.editing, page.deleting, page.revealed.key if page.revealed else "")
    focus = page.focus or next((k for k in shown if isinstance(k, str) and k), "")
    context = _variables_page(
        environment,
        variables,
        page=request.GET.get("page", ""),
        query=request.GET.get("q", "").strip()[:256],
        focus=focus,
        ages=not (request.htmx and page.section == "bindings"),  # that swap shows no variable
    ) | {
        "bindings": [r for r in rows if r.source == "binding"],
        "undecryptable_variables": [r.key for r in broken if r.source == "env"],
        "undecryptable_bindings": [r.key for r in broken if r.source == "binding"],
        "variable_form": page.bound(forms.VariableForm) or forms.VariableForm(),
        "binding_form": page.bound(forms.BindingForm)
        or forms.BindingForm(deployment_name=environment.deployment.name),
    }
    context |= _binding_clash(page, context["bindings"])
    if request.htmx and page.section == "bindings":
        # A data service's binding is marked managed, its URL not editable (SPEC §13); on the
        # whole page the data section's rows say which (no query of its own).
        context["managed_bindings"] = managed_binding_ids(environment)
    edit_form = page.bound(forms.VariableEditForm)
    if edit_form and any(r.is_secret for r in context["variables"] if r.key == page.editing):
        edit_form.withhold_value()  # a secret's typed value is never given back
    context["group_rows"] = [r for r in rows if r.source == "group"]
    return context


def _groups(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """The shared groups the environment links (SPEC §19): none to read until the deployment
    has one."""
    environment = page.environment
    if not environment.deployment.shares_config:
        return {"linked_groups": [], "group_names": []}
    return {
        "linked_groups": selectors.linked_groups(environment),
        "group_names": selectors.group_names(environment.deployment),
    }


def _revealed_row(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """One variable's row with its value revealed, with its links and its page (for Hide)."""
    environment, key = page.environment, page.revealed.key if page.revealed else ""
    rows = selectors.variable_rows([environment], include_bindings=False)
    # The row alone is sent: the other rows' ages are not shown.
    return _variables_page(environment, rows, page="", query="", focus=key, ages=False) | {
        "row": next(r for r in rows if r.key == key),
        "links": _variable_links(environment, [key])[0],
        "age": None,  # a plain variable: only secrets have an age to show
    }


def _domains(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    domains = selectors.domains(page.environment)
    suggestion = selectors.domain_suggestion(page.environment, domains)
    return {
        "domains": domains,
        "suggested_hostname": suggestion,
        "domain_form": page.bound(forms.DomainForm)
        or forms.DomainForm(initial={"hostname": suggestion}),
    }


def _tokens(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    new_token, raw_token = page.new_token or (None, "")
    return {
        "tokens": selectors.runtime_tokens(page.environment),
        "token_form": page.bound(forms.RuntimeTokenForm)
        or forms.RuntimeTokenForm(environment_name=page.environment.name),
        "new_token": new_token,
        "raw_token": raw_token,  # shown once, in this response only
    }


# A service in these states is polled until it settles.
UNSETTLED = ("provisioning", "destroying")


def data_sources(environment: Environment) -> list[str]:
    """The environments a new Postgres may copy its data from: never production, nor itself."""
    return [
        e.name
        for e in selectors.environments_in_order(environment.deployment)
        if not e.is_production and e.pk != environment.pk
    ]


def _data(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """The data section: the environment's services, and the form to add one when a server of
    some kind is available to the deployment (else what to register, and how)."""
    environment = page.environment
    servers = server_names_by_kind(environment.deployment)
    form = page.bound(forms.DataServiceForm)
    may_add = has_role(page.role, permissions.to_manage_data_services(environment))
    if form is None and servers and may_add:
        form = forms.DataServiceForm(servers=servers, sources=data_sources(environment))
    own = page.section == "data"
    rows = selectors.data_services(environment.deployment, environment=environment)
    deleting = next((s for s in rows if own and s.pk == page.deleting), None)
    return {
        "data_services": rows,
        "managed_bindings": {s.binding.pk for s in rows if hasattr(s, "binding")},
        "data_servers_by_kind": servers,
        "data_form": form,
        "data_adding": own and page.adding,
        "data_deleting": page.deleting if own else None,
        "data_mode": page.mode,
        "data_notice": page.notice if own else "",
        "data_error": page.error if own else "",
        "unsettled": UNSETTLED,
        # What the destroy being confirmed removes on the server.
        "data_destroys": forms.DESTROYS[deleting.kind] if deleting else "",
    }


def _data_row(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """One data service's row, polled while it is provisioning or destroying."""
    return {
        "service": page.service,
        "unsettled": UNSETTLED,
        "data_deleting": None,
    }


def _instances(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """What each runtime instance booted on."""
    return {
        "instances": selectors.instances(page.environment),
        "live_release": page.environment.live_release,
    }


def other_environments(environment: Environment) -> dict[str, Environment]:
    """The environments this one may promote to, in pipeline order."""
    return {
        e.name: e
        for e in selectors.environments_in_order(environment.deployment)
        if e.pk != environment.pk
    }


def _summary(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    environment = page.environment
    target = environment.promotes_to
    promotion_form = page.bound(forms.PromotionTargetForm)
    if promotion_form is None and _may_deploy(page) and not environment.is_production:
        promotion_form = forms.PromotionTargetForm(
            environment_names=list(other_environments(environment)),
            initial={"promotes_to": target.name if target else ""},
        )
    config_changes_form = page.bound(forms.ConfigChangesForm)
    if config_changes_form is None and _may_deploy(page):
        config_changes_form = forms.ConfigChangesForm(
            initial={"config_changes": environment.config_changes}
        )
    return {
        "target_environment": target,
        "promotion_form": promotion_form,
        "config_changes_form": config_changes_form,
        "oob": page.oob,
    }


def _pending(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """What changed since the live release (names only), and the Apply confirmation."""
    pending = selectors.pending_changes(page.environment)
    own = page.section == "pending"
    # The configuration moved on from the live release's (even if no key differs).
    has_pending = pending.live_revision is not None and pending.revision != pending.live_revision
    # In a protected environment the Apply opens a change request (SPEC §15), which a
    # developer may ask for where they may not release. (Read with the environment: the
    # page's environment comes from selectors.get_environment; another, one query more.)
    protected = has_pending and _under_review(page.environment)
    return {
        "pending": pending,
        "has_pending": has_pending,
        "apply_is_request": protected,
        "apply_verb": "Request to apply" if protected else "Apply",
        "reason_form": ReasonForm() if protected and page.confirming_apply else None,
        "may_apply": _may_deploy(page)
        or (protected and has_role(page.role, permissions.TO_REQUEST_CHANGES)),
        "live_release": page.environment.live_release,
        "confirming_apply": page.confirming_apply,
        "pending_notice": page.notice if own else "",
        "pending_error": page.error if own else "",
        "oob": page.oob,
    }


def _import(request: HtmxHttpRequest, page: EnvironmentPage) -> Context:
    """The "Import .env" section. The pasted text is never given back; the secret keys are
    names only."""
    step = page.imported or ImportStep()
    secret_keys = step.form.data.get("secret_keys", "") if step.form is not None else ""
    diff = step.diff
    return {
        "import_form": forms.ImportForm(initial={"secret_keys": secret_keys[:2000]}),
        "import_form_errors": step.form.non_field_errors() if step.form is not None else [],
        "import_error": page.error if page.section == "import" else "",
        "import_diff": diff,
        "import_groups": [
            ("Added", diff.added),
            ("Changed", diff.changed),
            ("Unchanged", diff.unchanged),
            ("Will be replaced", diff.replaced),  # secrets: never same or changed
        ]
        if diff
        else [],
        "import_count": len(diff.keys) if diff else 0,
        "import_preview_id": step.preview_id,
    }


@dataclass(frozen=True)
class Section:
    """A region of the page: what it adds to the context, and whether the whole page shows it
    (a revealed row is only ever sent alone; on the page it is a row of `variables`)."""

    context: Callable[[HtmxHttpRequest, EnvironmentPage], Context]
    on_page: bool = True


SECTIONS: dict[str, Section] = {
    "summary": Section(_summary),
    "settings": Section(_summary),
    "pending": Section(_pending),
    "variables": Section(_rows),
    "variable_row": Section(_revealed_row, on_page=False),
    "import": Section(_import),
    "data": Section(_data),
    "data_row": Section(_data_row, on_page=False),
    "bindings": Section(_rows),
    "groups": Section(_groups),
    "domains": Section(_domains),
    "tokens": Section(_tokens),
    "instances": Section(_instances),
    "rotations": Section(rotations_section),
    "protection": Section(protection_section),
}

# Sections whose notice and error have a place of their own, not the rows' status line.
OWN_MESSAGES = ("pending", "import", "data", "data_row", "protection")


def render_environment(request: HtmxHttpRequest, page: EnvironmentPage) -> HttpResponse:
    """The environment page, or `page.section` alone when htmx asked for it."""
    environment = page.environment
    if request.htmx and page.section is not None:
        builders = [SECTIONS[page.section].context]
    else:  # each once: the variables and bindings share theirs
        builders = list(dict.fromkeys(s.context for s in SECTIONS.values() if s.on_page))
    shared = page.section not in OWN_MESSAGES
    context = (
        environment_tabs(environment, page.role)
        | _permissions(page)
        | {
            "tab": "environment",
            "section": page.section,
            # Reversed once here, not once per row: a page of 500 variables would otherwise
            # reverse thousands of URLs (variable URLs are these plus `<key>/edit/` and so on).
            "environment_url": env_url(environment),
            "variables_url": env_url(environment, "variables"),
            "notice": page.notice if shared else "",
            "error": page.error if shared else "",
            "adding": page.adding,
            "editing": page.editing,
            "deleting": page.deleting,
            "edit_form": page.bound(forms.VariableEditForm) or page.bound(forms.BindingEditForm),
            "revealed_key": page.revealed.key if page.revealed else "",
            "revealed_value": page.revealed.value if page.revealed else None,
        }
    )
    for build in builders:
        context |= build(request, page)
    template = template_for(request, TEMPLATE, page.section)
    return render(request, template, context, status=page.status)


def with_summary(request: HtmxHttpRequest, page: EnvironmentPage, response: HttpResponse):
    """Under htmx, the summary line too (out of band): a setting changed what it says."""
    if request.htmx and response.status_code == 200:
        summary = replace(page, section="summary", oob=True, notice="", error="", form=None)
        response.content += render_environment(request, summary).content
    return response


def after_write(
    request: HtmxHttpRequest, page: EnvironmentPage, *, config_changed: bool = False
) -> HttpResponse:
    """The section (htmx) or the page (a redirect) after a write, with its notice.

    `config_changed`: the write changed what a runtime gets, so the notice says whether it is
    live or pending, and htmx also gets the pending changes section (out of band)."""
    environment = page.environment
    if config_changed:
        page = replace(page, notice=page.notice + release_notice(environment))
    if request.htmx:
        response = render_environment(request, page)
        if config_changed and environment.is_staged:
            pending = EnvironmentPage(environment, page.role, section="pending", oob=True)
            response.content += render_environment(request, pending).content
        return response
    messages.success(request, page.notice)
    return redirect(env_url(environment) + f"#{page.section}")


def release_notice(environment: Environment) -> str:
    """Whether a change just committed is live or waits for an Apply (SPEC §9)."""
    environment = selectors.refresh_config_state(environment)
    release = environment.live_release
    if release is None:  # nothing deployed: the configuration goes live with the first deploy
        return ""
    if environment.is_staged:
        count = selectors.pending_changes(environment).count
        return (
            f" {environment.name} stages its config changes: this goes live when you apply "
            f"them ({count} pending change{'' if count == 1 else 's'})."
        )
    return (
        f" Live in release {release.number} (v{release.version.number} · config "
        f"{release.config_revision})."
    )
