"""Flash messages in one place: the page's `#flash` region (templates/base.html).

A section that says what just happened writes `{% flash notice error %}` where it used to print
its own notice. In an htmx response the message goes out of band into `#flash` (the section
itself is swapped in place); in a full page it joins Django's messages, which base.html prints
in `#flash` after the content (so messages added while the content renders are there too).
"""

from __future__ import annotations

from django import template
from django.contrib import messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

MESSAGE = (
    '<div class="message {}" data-testid="flash-message"><span>{}</span>'
    '<button type="button" class="flash-dismiss" data-dismiss aria-label="Dismiss">×</button>'
    "</div>"
)


def message_html(items: list[tuple[str, str]]) -> SafeString:
    """(tags, text) pairs as the region's markup."""
    return format_html_join("", MESSAGE, items)


@register.simple_tag(takes_context=True)
def flash(context, notice: str = "", error: str = "") -> SafeString | str:
    request = context.get("request")
    # A full environment page carries one notice into several sections: say it once.
    said = getattr(request, "_flashed", set()) if request is not None else set()
    items = [
        (tags, text)
        for tags, text in (("success", notice), ("error", error))
        if text and (tags, text) not in said
    ]
    if not items:
        return ""
    if request is not None:
        request._flashed = said | set(items)
    if request is not None and getattr(request, "htmx", False):
        return format_html('<div hx-swap-oob="innerHTML:#flash">{}</div>', message_html(items))
    if request is not None and hasattr(request, "_messages"):
        for tags, text in items:
            messages.add_message(
                request, messages.SUCCESS if tags == "success" else messages.ERROR, text
            )
        return ""
    return message_html(items)  # no messages framework (a bare render): say it here


@register.simple_tag(takes_context=True)
def flash_messages(context) -> SafeString:
    """Django's messages (those queued while the page rendered included) as `#flash` markup."""
    stored = context.get("messages") or []
    return message_html([(message.tags, str(message)) for message in stored])
