"""Template filters about variable keys."""

from django import template

from ... import rules

register = template.Library()


@register.filter
def is_process_key(key: str) -> bool:
    """A key a process needs from its own machine (PATH, LD_PRELOAD, …): refused for new writes
    (SPEC §18); one stored before that rule is flagged so its owner deletes it."""
    return rules.is_process_key(key)
