"""The environment page in a real browser: inline variable editing, bindings and domains."""

import pytest
from playwright.sync_api import expect

from environments import rules
from environments.models import Role

pytestmark = pytest.mark.browser


def test_add_edit_and_delete_a_variable_inline(page, live_server, shop, shop_member, login):
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.evaluate("window.__noReload = true")
    variables = page.locator("#variables")

    page.get_by_label("Key", exact=True).fill("NEW_FLAG")
    page.get_by_label("Value", exact=True).fill("on")
    page.get_by_role("button", name="Add variable").click()
    expect(page.locator("#flash").get_by_text("Added NEW_FLAG.")).to_be_visible()
    row = variables.locator("tr", has_text="NEW_FLAG")
    expect(row).to_contain_text("on")

    row.get_by_role("link", name="Edit NEW_FLAG").click()
    value = page.get_by_label("New value")
    expect(value).to_be_focused()
    value.fill("off")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash").get_by_text("Updated NEW_FLAG.")).to_be_visible()
    expect(variables.locator("tr", has_text="NEW_FLAG")).to_contain_text("off")

    # A click that lands while the previous swap still settles can be dropped by htmx: click
    # again until the confirmation shows (at most three times), then confirm.
    confirm = page.get_by_role("button", name="Delete NEW_FLAG")
    for _ in range(3):
        variables.get_by_role("link", name="Delete NEW_FLAG").click()
        try:
            expect(confirm).to_be_visible(timeout=5000)
            break
        except AssertionError:
            continue
    confirm.click()
    expect(page.locator("#flash").get_by_text("Deleted NEW_FLAG.")).to_be_visible()
    expect(variables.locator("tr", has_text="NEW_FLAG")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True


def test_a_server_error_is_shown_next_to_the_field(page, live_server, shop, shop_member, login):
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.get_by_label("Key", exact=True).fill("MIOSA_X")
    page.get_by_role("button", name="Add variable").click()
    expect(page.locator("#new-key-error")).to_contain_text("reserved")


def test_add_a_binding_and_a_domain(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/preview/pr-42/")
    bindings = page.locator("#bindings")
    expect(bindings).to_contain_text("No data services bound")

    bindings.get_by_label("Kind").select_option("postgres")
    bindings.get_by_label("Service name").fill("pr-42-db")
    bindings.get_by_label("Connection URL").fill(
        "postgres://app:browser-pw-9@db-pr42.internal/shop"
    )
    bindings.get_by_role("button", name="Bind service").click()
    expect(bindings).to_contain_text("postgres://app:••••@db-pr42.internal/shop")
    expect(bindings).to_contain_text("DATABASE_URL")
    assert "browser-pw-9" not in page.content()

    domains = page.locator("#domains")
    hostname = domains.get_by_label("Hostname")
    expect(hostname).to_have_value("preview-pr-42.shop.example.com")  # the suggestion
    domains.get_by_role("button", name="Add domain").click()
    expect(page.locator("#flash")).to_contain_text("Added preview-pr-42.shop.example.com.")
    expect(domains.locator("td", has_text="preview-pr-42.shop.example.com")).to_be_visible()


def test_an_admin_reveals_a_plain_value_in_its_row(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    page.evaluate("window.__noReload = true")
    variables = page.locator("#variables")
    expect(variables.get_by_role("button", name="Reveal STRIPE_SECRET_KEY")).to_have_count(0)
    row = variables.locator("#var-API_URL")
    expect(row).not_to_contain_text("https://api.staging.shop.example.com")

    row.get_by_role("button", name="Reveal API_URL").click()
    expect(page.get_by_test_id("revealed-value")).to_have_text(
        "https://api.staging.shop.example.com"
    )
    expect(variables.get_by_role("button", name="Reveal LOG_LEVEL")).to_be_visible()
    variables.get_by_role("link", name="Hide the value of API_URL").click()
    expect(page.get_by_test_id("revealed-value")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True


def test_a_developer_changes_the_promotion_target(page, live_server, shop, shop_member, login):
    login(shop_member(Role.DEVELOPER))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/preview/pr-42/")
    page.evaluate("window.__noReload = true")
    page.get_by_label("Promotes to", exact=True).select_option("production")
    page.get_by_role("button", name="Set target").click()
    expect(page.locator("#flash")).to_contain_text("preview/pr-42 now promotes to production.")
    assert page.evaluate("window.__noReload") is True


def test_the_kind_sets_the_default_variable_name(page, live_server, shop, shop_member, login):
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/staging/")
    bindings = page.locator("#bindings")
    variable = bindings.get_by_label("Variable name")
    for kind, spec in rules.BINDING_KINDS.items():
        default = spec.variable_name
        bindings.get_by_label("Kind").select_option(kind)
        expect(variable).to_have_attribute("placeholder", default)
