"""Moved to environments/web/templatetags/times.py (registered through TEMPLATES' `libraries`).

Kept for tests/test_templatetags_times.py's import until it imports from there; no `register`
here, so Django's app loader finds no second `times` library.
"""

from environments.web.templatetags.times import relative

__all__ = ["relative"]
