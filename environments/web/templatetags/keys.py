"""Template filters about variable keys."""

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ... import rules

register = template.Library()


@register.filter
def is_process_key(key: str) -> bool:
    """A key a process needs from its own machine (PATH, LD_PRELOAD, …): refused for new writes
    (SPEC §18); one stored before that rule is flagged so its owner deletes it."""
    return rules.is_process_key(key)


@register.filter
def breakable(key: str) -> SafeString:
    """The key, escaped, with a line-break opportunity (<wbr>) after each underscore: a long
    `SERVICE_01_ENDPOINT_URL` wraps as `SERVICE_01_` / `ENDPOINT_URL`, never mid-word."""
    return mark_safe(escape(key).replace("_", "_<wbr>"))
