"""The wrapper every API view goes through, and the typed request it hands the view.

`api_endpoint("GET", "POST", body={"POST": ROLLBACK}, need={"POST": (role, what)})` checks
the method and refuses tokens in the query string, authenticates the personal API token,
looks up the deployment of the URL's `deployment_id` (404 alike for unknown ones and ones the
user cannot see), checks the role a method needs, parses the JSON body by its declaration
(`inputs.Body`), and answers every error as JSON, 500 included. The view gets an `ApiRequest`
and starts with what is particular to it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt

from .. import permissions, selectors
from ..actors import Actor
from ..errors import ServiceError
from ..models import ApiToken, Deployment, OidcToken
from . import scope
from .auth import actor_for, authenticate_user
from .errors import ApiError, error_response, refuse_token_in_query
from .inputs import Body, OneOf
from .payload import read_json_object

logger = logging.getLogger("environments.api")

PERSONAL = "personal"  # a personal API token (mio_pat_…): the wrapper authenticates it
# A runtime token (mio_rt_…): the runtime fetch finds it in the same statement that reads the
# environment (services.fetch_runtime_env_for_token), so the view authenticates it itself.
RUNTIME = "runtime"
PUBLIC = "public"  # no token (the OpenAPI document)


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    """What an authenticated API view works with. `deployment` and `role` are those of the
    URL's deployment_id (None on endpoints without one); `body` the parsed JSON body."""

    http: HttpRequest
    token: ApiToken | OidcToken
    deployment: Deployment | None = None
    role: str | None = None
    body: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def user(self):
        return self.token.user

    @property
    def environments(self) -> list[str] | None:
        """The only environments the token may act on (an OIDC exchange's); None: any."""
        return self.token.environments if isinstance(self.token, OidcToken) else None

    @property
    def method(self) -> str:
        return self.http.method or ""

    @property
    def query(self) -> QueryDict:
        return self.http.GET

    @property
    def actor(self) -> Actor:
        return actor_for(self.http, self.token)

    def require(self, need: str, what: str) -> None:
        """403 unless the user's role on the deployment is `need` or higher."""
        if not permissions.has_role(self.role, need):
            raise ApiError(
                403, "forbidden", f"{what} needs the {need} role or higher; you are {self.role}."
            )


def api_endpoint(
    *methods: str,
    auth: str = PERSONAL,
    body: Mapping[str, Body | OneOf] | None = None,
    need: Mapping[str, tuple[str, str]] | None = None,
) -> Callable:
    """Wrap an API view: CSRF-exempt (bearer auth only), methods checked, tokens in the query
    string refused, the token, deployment, role and body as above, every error as JSON.

    With `auth=RUNTIME` or `auth=PUBLIC` the view gets the HttpRequest itself."""
    bodies = dict(body or {})
    needs = dict(need or {})

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def call(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if auth != PERSONAL:
                return view(request, *args, **kwargs)
            token = authenticate_user(request)
            deployment = role = None
            if isinstance(token, OidcToken):
                access = scope.oidc_deployment_access(
                    request, token, kwargs.pop("deployment_id", None)
                )
            elif "deployment_id" in kwargs:
                access = selectors.get_deployment_for_user(token.user, kwargs.pop("deployment_id"))
            else:
                access = None
            if access is not None:
                deployment, role = access.deployment, access.role
            api = ApiRequest(http=request, token=token, deployment=deployment, role=role)
            if request.method in needs:
                api.require(*needs[request.method])
            declared = bodies.get(request.method)
            if declared is not None:
                api = dataclasses.replace(api, body=declared.parse(read_json_object(request)))
            with scope.limited_to(api.environments, method=request.method or ""):
                return view(api, *args, **kwargs)

        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                refuse_token_in_query(request)
                if request.method not in methods:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        f"{request.method} is not allowed here; use {' or '.join(methods)}.",
                        headers={"Allow": ", ".join(methods)},
                    )
                response = call(request, *args, **kwargs)
            except ApiError as exc:
                response = error_response(
                    exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers
                )
            except ServiceError as exc:
                response = error_response(exc.status, exc.code, exc.message, field=exc.field)
            except Http404:
                response = error_response(404, "not_found", "There is no such thing here.")
            except PermissionDenied as exc:
                response = error_response(
                    403, "forbidden", str(exc) or "Your role does not allow this."
                )
            except SuspiciousOperation:
                response = error_response(400, "bad_request", "The request is malformed.")
            except Exception as exc:
                # Type and frames only: an exception's text may quote a value.
                logger.error(
                    "Unhandled %s in %s %s\n%s",
                    type(exc).__name__,
                    request.method,
                    request.path,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                response = error_response(
                    500, "server_error", "Something went wrong on our side; nothing was returned."
                )
            if not response.has_header("Cache-Control"):
                response["Cache-Control"] = "no-store"
            if request.method == "HEAD":
                # As GET would answer, without the body (the length says what it would be).
                response["Content-Length"] = str(len(response.content))
                response.content = b""
            return response

        # What the drift test reads: the body each method takes.
        wrapped.api_bodies = bodies  # type: ignore[attr-defined]
        wrapped.api_methods = methods  # type: ignore[attr-defined]
        return csrf_exempt(wrapped)

    return decorator
