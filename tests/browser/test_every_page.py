"""Every page, and every state an htmx swap produces, at a desktop, a tablet and a phone width:
no horizontal scroll, and no serious or critical axe-core violation in the light and the dark
scheme.

One test per width walks all the states in one browser page and reports every problem at once.
Each state is checked in light, then the page is switched to the dark scheme in place
(emulate_media: no reload, the state stays) and axe runs again; the layout does not change with
the scheme, so the sideways-scroll check runs once.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from environments import services
from environments.actors import Actor
from environments.models import Role

from .checks import axe_problems, overflow_problem

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": (1400, 900), "tablet": (768, 1024), "phone": (390, 844)}
SCHEMES = ("light", "dark")


@pytest.fixture
def admin(shop, make_user):
    """An owner of the demo who is also a superuser: the widest top bar there is."""
    user = make_user("olivia-on-call", superuser=True)
    services.set_member(deployment=shop, user=user, role=Role.OWNER, actor=Actor.system("tests"))
    return user


@pytest.fixture
def fifty_variables(shop):
    """Production with 50 variables (long names, long values, one secret among them)."""
    production = shop.environments.get(name="production")
    items = [
        services.VariableInput(
            f"SERVICE_{n:02d}_ENDPOINT_URL",
            f"https://service-{n:02d}.internal.shop.example.com/api/v2/endpoint?region=eu-west-1",
            n % 10 == 0,
        )
        for n in range(1, 47)
    ]
    long_name = "A_VERY_LONG_VARIABLE_NAME_WITHOUT_ANY_BREAK_IN_IT_AT_ALL"
    items.append(services.VariableInput(long_name, "x", False))
    items.append(services.VariableInput("ONE_LONG_VALUE", "y" * 300, False))
    services.set_variables(environment=production, items=items, actor=Actor.system("tests"))
    return production


def _states(page, url: str, deployment_id: int):
    """(name, go) pairs; each go(page) brings the page to that state and waits for it."""
    d = f"{url}/deployments/{deployment_id}"
    env = f"{d}/env/production"
    variables = page.locator("#variables")

    def goto(path):
        return lambda: page.goto(path)

    def promotion_confirmation():
        page.goto(f"{d}/")
        page.get_by_role("link", name="Promote v18 to production").click()
        expect(page.locator(".confirm-panel")).to_be_visible()

    def inline_edit():
        page.goto(f"{env}/")
        variables.get_by_role("link", name="Edit API_URL").click()
        expect(page.locator("#edit-value")).to_be_visible()

    def delete_confirmation():
        page.goto(f"{env}/")
        variables.get_by_role("link", name="Delete LOG_LEVEL").click()
        expect(variables.get_by_role("button", name="Delete LOG_LEVEL")).to_be_visible()

    def reveal():
        page.goto(f"{env}/")
        variables.get_by_role("button", name="Reveal API_URL").click()
        expect(page.get_by_test_id("revealed-value")).to_be_visible()

    def form_error():
        page.goto(f"{env}/")
        variables.get_by_label("Key", exact=True).fill("MIOSA_X")
        variables.get_by_role("button", name="Add variable").click()
        expect(page.locator("#new-key-error")).to_be_visible()

    def flash_message():
        page.goto(f"{env}/")
        variables.get_by_role("link", name="Edit LOG_LEVEL").click()
        page.locator("#edit-value").fill("warning")
        variables.get_by_role("button", name="Save").click()
        expect(page.locator("#flash").get_by_text("Updated LOG_LEVEL.")).to_be_visible()

    def apply_confirmation():
        page.goto(f"{env}/")
        page.locator("#pending").get_by_role("link", name="Apply").click()
        expect(page.locator("#pending").get_by_role("button", name="Apply")).to_be_visible()

    def import_preview():
        page.goto(f"{env}/")
        page.locator("#import-text").fill("NEW_ONE=1\nLOG_LEVEL=debug\n")
        page.get_by_role("button", name="Preview import").click()
        expect(page.get_by_test_id("import-diff")).to_be_visible()

    def refused_page_form():
        page.goto(f"{d}/environments/new/")
        page.get_by_label("Name").fill("Not A Name")
        page.get_by_role("button", name="Create environment").click()
        expect(page.locator(".field-error").first).to_be_visible()

    def binding_edit():
        page.goto(f"{env}/")
        page.locator("#bindings").get_by_role("link", name="Edit shop-db").click()
        expect(page.locator("#bindings").get_by_role("button", name="Save")).to_be_visible()

    def rollback_confirmation():
        page.goto(f"{env}/-/history/")
        page.locator("#history").get_by_role("button", name="Roll back to release 1").click()
        expect(page.locator("#history [data-escape]")).to_be_visible()

    def confirmation_page():
        # Without JavaScript a rollback asks on a page of its own (templates/confirm.html).
        page.goto(f"{env}/-/history/")
        page.evaluate("document.querySelector('#history form[action$=\"/rollback/\"]').submit()")
        expect(page.get_by_role("heading", name="Roll production back")).to_be_visible()

    def new_api_token():
        page.goto(f"{url}/account/tokens/")
        page.get_by_label("Name").fill("ci")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_test_id("new-token")).to_be_visible()

    return [
        ("deployment list", goto(f"{url}/")),
        ("pipeline", goto(f"{d}/")),
        ("promotion confirmation", promotion_confirmation),
        ("register a version", goto(f"{d}/versions/new/")),
        ("new environment", goto(f"{d}/environments/new/")),
        ("new environment, refused", refused_page_form),
        ("environment, 50 variables", goto(f"{env}/")),
        ("inline edit", inline_edit),
        ("delete confirmation", delete_confirmation),
        ("reveal", reveal),
        ("form error", form_error),
        ("a message", flash_message),
        ("apply confirmation", apply_confirmation),
        ("import preview", import_preview),
        ("binding edit", binding_edit),
        ("staging", goto(f"{d}/env/staging/")),
        ("empty preview", goto(f"{d}/env/preview/pr-42/")),
        ("delete an environment", goto(f"{d}/env/preview/pr-42/-/delete/")),
        ("history", goto(f"{env}/-/history/")),
        ("rollback confirmation", rollback_confirmation),
        ("confirmation page", confirmation_page),
        ("key history", goto(f"{env}/-/variables/LOG_LEVEL/history/")),
        ("compare", goto(f"{d}/compare/?left=production&right=staging")),
        ("audit log", goto(f"{d}/audit/")),
        ("members", goto(f"{d}/members/")),
        ("settings", goto(f"{d}/settings/")),
        ("API tokens", goto(f"{url}/account/tokens/")),
        ("a new API token", new_api_token),
        ("not found", goto(f"{d}/env/nope/")),
    ]


def lock_the_login(page, url: str) -> None:
    """Failed logins until the lock page (last: it locks this address out)."""
    page.context.clear_cookies()
    for _ in range(8):
        page.goto(f"{url}/login/")
        page.get_by_label("Username").fill("nobody")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        if page.get_by_text("Too many failed logins").count():
            return
    raise AssertionError("eight failed logins did not lock the login")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_passes_axe(
    page, live_server, shop, admin, fifty_variables, login, width
):
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    problems = []

    def check(where):
        where = f"{width} {where}"
        problems.extend(overflow_problem(page, where))
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            problems.extend(axe_problems(page, f"{where} ({scheme})"))
        page.emulate_media(color_scheme="light")

    page.goto(f"{live_server.url}/login/")
    check("login")
    login(admin)
    states = _states(page, live_server.url, shop.pk)
    for name, go in [*states, ("login locked", lambda: lock_the_login(page, live_server.url))]:
        try:
            go()
        except AssertionError as exc:  # a state not reached: say which, and go on
            problems.append(f"{width} {name}: not reached: {str(exc).splitlines()[0]}")
            continue
        check(name)

    assert not problems, "\n".join(problems)
