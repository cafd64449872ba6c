"""Error reports never carry values: every frame variable and POST field is masked, and so is
every environment-style entry of the request's META.

Django's default filter masks only names that look sensitive (KEY, TOKEN, …); a variable named
`value` holding a secret would show on the DEBUG error page and in error e-mails. This filter
masks them all, always (DEBUG included), so `make run`'s error pages are safe to screenshot.

META needs the same care: the development server copies the whole process environment into it,
so `DATABASE_URL` (with its password) would show under "META" on the DEBUG page.
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


class NoValuesExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True

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
