"""The Webhooks page in a real browser, on a desktop and a phone: add a webhook (its secret shown
once), send a test to a real receiver on 127.0.0.1, read the delivery log (status, duration,
payload), delete it by answering in place (never a browser dialog)."""

import re

import pytest
from playwright.sync_api import expect

from environments.models import Role, WebhookDelivery
from environments.webhooks import delivery

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.webhook_receiver"]

WIDTHS = (1400, 768, 390)


def _checked(page, where: str) -> list[str]:
    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            state = f"{where} {width}px {scheme}"
            problems += axe_problems(page, state) + overflow_problem(page, state)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1400, "height": 900})
    return problems


def test_add_a_webhook_test_it_and_read_its_log(
    page, live_server, shop, shop_member, login, receiver, allow_private
):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(shop_member(Role.ADMIN, "hook-admin"))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name=re.compile("^Webhooks"))).to_be_visible()
    problems = _checked(page, "webhooks, none yet")

    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("rotation.converged").check()
    page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("#webhook-secret")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    shown = secret.text_content()
    problems += _checked(page, "webhooks, secret shown once")

    page.get_by_role("button", name="Send a test").click()
    expect(page.get_by_text("A ping is on its way")).to_be_visible()
    (ping,) = WebhookDelivery.objects.all()
    assert delivery.deliver(ping.pk) == "delivered"
    page.goto(f"{live_server.url}/deployments/{shop.pk}/webhooks/{ping.endpoint_id}/")
    assert shown not in page.content()  # once only
    expect(page.get_by_text(re.compile(r"^\s*200 in \d+ ms"))).to_be_visible()
    page.get_by_text("Payload", exact=True).click()
    expect(page.get_by_test_id("payload")).to_contain_text('"type": "ping"')
    problems += _checked(page, "webhooks, the delivery log")

    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_text("Delete this webhook?")).to_be_visible()
    problems += _checked(page, "webhooks, delete asked in place")
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("The webhook was deleted.")).to_be_visible()
    expect(page.get_by_text("No webhooks")).to_be_visible()
    assert len(receiver.received) == 1
    assert dialogs == []
    assert problems == []
