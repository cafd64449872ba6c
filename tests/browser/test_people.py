"""People and tokens in a real browser: invite by email and accept in another browser; revoke
a token and remove a member by answering in place (never a browser dialog); a new runtime
token with its next step; what a viewer is offered and what a 403 says."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Membership, Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser

LINK = re.compile(r"https?://[^/\s]+(/invitations/mio_inv_[A-Za-z0-9_-]+/)")
WIDTHS = (1400, 768, 390)


def _no_dialogs(page):
    """A native confirm() fails the test: every question is asked in the page."""
    seen = []
    page.on("dialog", lambda dialog: (seen.append(dialog.message), dialog.dismiss()))
    return seen


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


def test_invite_by_email_and_accept_in_another_browser(
    page, browser, live_server, shop, shop_member, login
):
    dialogs = _no_dialogs(page)
    login(shop_member(Role.OWNER, "olivia"))
    members = f"{live_server.url}/deployments/{shop.pk}/members/"
    page.goto(members)
    problems = _checked(page, "members")

    # An unknown username: information, not a green success.
    page.get_by_label("Username").fill("nobody-here")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".message.info > span")).to_have_text(
        "If that user exists, they have been added."
    )

    page.get_by_label("Email", exact=True).fill("dana@example.com")
    page.locator("#invite-role").select_option("developer")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".message.success > span")).to_contain_text(
        "Invited dana@example.com as developer"
    )
    pending = page.get_by_role("row", name=re.compile("dana@example.com"))
    expect(pending).to_contain_text("Developer")
    problems += _checked(page, "members with an invitation")
    (message,) = mail.outbox
    link = LINK.search(message.body).group(1)

    # The invited person, in a browser of their own, makes an account and lands on shop.
    other = browser.new_context()
    guest = other.new_page()
    guest.goto(live_server.url + link)
    expect(guest.get_by_role("heading", name="Join shop")).to_be_visible()
    problems += _checked(guest, "invitation")
    guest.get_by_label("Username").fill("dana")
    guest.get_by_label("Password", exact=True).fill("short")
    guest.get_by_label("Password again").fill("short")
    guest.get_by_role("button", name="Create account and join").click()
    expect(guest.get_by_text("This password is too short")).to_be_visible()
    guest.get_by_label("Password", exact=True).fill("a-long-enough-passphrase-7")
    guest.get_by_label("Password again").fill("a-long-enough-passphrase-7")
    guest.get_by_role("button", name="Create account and join").click()
    guest.wait_for_url(f"{live_server.url}/deployments/{shop.pk}/")
    expect(guest.get_by_text("Welcome, dana: you joined shop as developer.")).to_be_visible()
    # The link worked once.
    guest.goto(live_server.url + link)
    expect(guest.get_by_role("heading", name="This invitation was already used")).to_be_visible()
    other.close()
    assert Membership.objects.get(user__username="dana").role == "developer"

    # The owner's page: dana is a member, the invitation is no longer pending.
    page.goto(members)
    expect(page.get_by_role("rowheader", name="dana")).to_be_visible()
    expect(page.get_by_text("Pending invitations")).to_have_count(0)
    assert dialogs == [] and problems == []


def test_revoke_an_invitation_and_remove_a_member_in_place(
    page, live_server, shop, shop_member, login
):
    dialogs = _no_dialogs(page)
    owner = shop_member(Role.OWNER, "olivia")
    shop_member(Role.VIEWER, "vic")
    services.invite_member(
        deployment=shop,
        email="eve@example.com",
        role=Role.VIEWER,
        actor=Actor(user=owner, label="olivia"),
        accept_url=lambda raw: f"{live_server.url}/invitations/{raw}/",
    )
    login(owner)
    page.goto(f"{live_server.url}/deployments/{shop.pk}/members/")

    page.get_by_role("link", name="Remove vic").click()
    question = page.locator("tr.confirming")
    expect(question).to_contain_text("Remove vic from shop?")
    expect(question.get_by_role("button", name="Remove vic")).to_be_focused()
    problems = _checked(page, "members removing")
    page.keyboard.press("Escape")
    expect(page.locator("tr.confirming")).to_have_count(0, timeout=15_000)
    page.get_by_role("link", name="Remove vic").click()
    page.locator("tr.confirming").get_by_role("button", name="Remove vic").click()
    expect(page.locator(".message.success > span")).to_have_text("Removed vic.")
    expect(page.get_by_role("rowheader", name="vic")).to_have_count(0)

    page.get_by_role("link", name="Revoke the invitation of eve@example.com").click()
    expect(page.locator("tr.confirming")).to_contain_text(
        "Revoke the invitation of eve@example.com?"
    )
    page.locator("tr.confirming").get_by_role("button", name="Revoke").click()
    expect(page.locator(".message.success > span")).to_have_text(
        "Revoked the invitation of eve@example.com."
    )
    expect(page.get_by_text("Pending invitations")).to_have_count(0)
    assert dialogs == [] and problems == []


def test_runtime_token_next_step_and_revoke_in_place(page, live_server, shop, shop_member, login):
    dialogs = _no_dialogs(page)
    login(shop_member(Role.ADMIN, "admin-tester"))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    tokens = page.locator("#tokens")
    expect(tokens.get_by_text("No expiry by default")).to_be_visible()
    tokens.get_by_label("Token name").fill("worker")
    tokens.get_by_role("button", name="Create token").click()
    raw = tokens.locator("#raw-token").inner_text().strip()
    assert raw.startswith("mio_rt_")
    expect(tokens.get_by_test_id("token-curl")).to_have_text(
        f'curl -H "Authorization: Bearer {raw}" {live_server.url}/api/v1/runtime/env'
    )
    expect(tokens.get_by_test_id("token-run")).to_have_text(
        f"MIOSA_URL={live_server.url} MIOSA_TOKEN={raw} miosa run -- ./server"
    )
    # The curl line works as shown.
    fetched = page.request.get(
        f"{live_server.url}/api/v1/runtime/env", headers={"Authorization": f"Bearer {raw}"}
    )
    assert fetched.status == 200 and fetched.json()["environment"] == "production"
    problems = _checked(page, "runtime token created")

    tokens.get_by_role("link", name="Revoke worker").click()
    question = page.locator("#tokens tr.confirming")
    expect(question).to_contain_text("Revoke worker? Instances using it can no longer fetch")
    problems += _checked(page, "runtime token revoking")
    question.get_by_role("button", name="Revoke worker").click()
    expect(page.locator("#flash").get_by_text("Revoked worker.")).to_be_visible()
    assert dialogs == [] and problems == []


def test_api_token_revoke_in_place(page, live_server, shop, shop_member, login):
    dialogs = _no_dialogs(page)
    user = shop_member(Role.DEVELOPER, "dev")
    services.create_api_token(user=user, name="ci", actor=Actor(user=user, label="dev"))
    login(user)
    page.goto(f"{live_server.url}/account/tokens/")
    page.get_by_role("link", name="Revoke ci").click()
    question = page.locator("tr.confirming")
    expect(question).to_contain_text("Revoke ci? Scripts and CI jobs using it can no longer")
    problems = _checked(page, "api token revoking")
    question.get_by_role("button", name="Revoke ci").click()
    expect(page.get_by_text("Revoked ci.")).to_be_visible()
    expect(page.locator(".badge.danger", has_text="revoked")).to_be_visible()
    assert dialogs == [] and problems == []


def test_a_viewer_sees_what_they_may_use_and_who_can_grant_more(
    page, live_server, shop, shop_member, login
):
    shop_member(Role.OWNER, "olivia")
    login(shop_member(Role.VIEWER, "vic"))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/settings/")
    expect(page.get_by_role("link", name="Add it on the environment page")).to_have_count(0)
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/production/")
    expect(page.locator("#tokens").get_by_role("link", name=re.compile("^Revoke"))).to_have_count(0)
    expect(page.get_by_role("link", name="Members")).to_have_count(0)
    page.goto(f"{live_server.url}/deployments/{shop.pk}/audit/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_test_id("who-grants")).to_contain_text("Ask an owner of shop (")
    expect(page.get_by_test_id("who-grants")).to_contain_text("olivia")
    assert _checked(page, "403") == []
