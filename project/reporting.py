"""Error reports never carry values: every frame variable and POST field is masked, and so is
every environment-style entry of the request's META.

Django's default filter masks only names that look sensitive (KEY, TOKEN, …); a variable named
`value` holding a secret would show on the DEBUG error page and in error e-mails. This filter
masks them all, always (DEBUG included), so `make run`'s error pages are safe to screenshot.

META needs the same care: the development server copies the whole process environment into it,
so `DATABASE_URL` (with its password) would show under "META" on the DEBUG page.

And so do settings: Django hides a setting by its name (KEY, TOKEN, PASS…), so `REDIS_URL`,
`CACHES["default"]["LOCATION"]` or a DSN in a list would show with their passwords on any
DEBUG page (a foreign Host header is enough to get one). Every string in the settings, however
deeply nested, has the credentials of its URLs masked (`redis://app:********@cache:6379/0`), as
do `password=` parameters; the rest stays, to debug with.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

# Names of META entries that hold configuration or credentials, on top of Django's own list.
ENVIRONMENT_STYLE = re.compile(
    r"_URL$|KEY|TOKEN|PASSWORD|SECRET|^DATABASE|CREDENTIAL|DSN|COOKIE|AUTH", re.IGNORECASE
)


# The user information of a URL: from the scheme to the last "@" before any whitespace (a
# password may hold "/", "," or another "@" unencoded; masking a little more is safe).
URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>\S*)@")
# password=…, secret=…, token=… in a query string or a keyword DSN (libpq's "password=pw").
CREDENTIAL_PARAMETER = re.compile(
    r"(?P<name>\b[A-Za-z_]*(?:pass(?:word|wd)?|pwd|secret|token|api_?key)=)[^&\s#;]*",
    re.IGNORECASE,
)


def mask_credentials(text: str, substitute: str) -> str:
    """`text` with the credentials of the URLs and DSNs in it replaced by `substitute`."""

    def userinfo(match: re.Match) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        kept = f"{user}:" if colon and not re.search(r"[/@\s]", user) else ""
        return f"{match['scheme']}{kept}{substitute}@"

    text = URL_USERINFO.sub(userinfo, text)
    return CREDENTIAL_PARAMETER.sub(lambda m: f"{m['name']}{substitute}", text)


class NoValuesExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True

    def cleanse_setting(self, key, value):
        """Django's by-name masking (recursing into dicts, lists and tuples), then every string
        without the credentials of its URLs."""
        cleansed = super().cleanse_setting(key, value)
        if not isinstance(cleansed, str) or cleansed is self.cleansed_substitute:
            return cleansed
        text = str(cleansed)  # a lazy string (reverse_lazy…) as it would show
        masked = mask_credentials(text, self.cleansed_substitute)
        return cleansed if masked == text else masked

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]

    def get_post_parameters(self, request):
        if request is None:
            return {}
        return {name: self.cleansed_substitute for name in request.POST}

    def get_safe_request_meta(self, request) -> dict[str, Any]:
        """META with environment-style entries masked, and every entry that came from the
        process environment (whatever its name: SENTRY_DSN, a cloud token…)."""
        return {
            name: (
                self.cleansed_substitute
                if ENVIRONMENT_STYLE.search(name) or name in os.environ
                else value
            )
            for name, value in super().get_safe_request_meta(request).items()
        }
