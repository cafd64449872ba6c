"""Error reports never carry values: every frame variable and POST field is masked.

Django's default filter masks only names that look sensitive (KEY, TOKEN, …); a variable named
`value` holding a secret would show on the DEBUG error page and in error e-mails. This filter
masks them all, always (DEBUG included), so `make run`'s error pages are safe to screenshot.
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class NoValuesExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]

    def get_post_parameters(self, request):
        if request is None:
            return {}
        return {name: self.cleansed_substitute for name in request.POST}
