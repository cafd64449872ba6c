"""The environment page in a real browser: inline variable editing, bindings and domains."""

import pytest
from playwright.sync_api import expect

from environments import rules
from environments.models import Role
from tests.runtime import runtime_env

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


def test_an_admin_fixes_one_character_of_a_plain_value_in_place(
    page, live_server, shop, shop_member, login
):
    """Issue 21 item 6: the plain value is there to edit (an audited reveal); a secret is not."""
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/preview/pr-42/")
    variables = page.locator("#variables")
    variables.get_by_role("link", name="Edit API_URL").click()
    value = variables.locator("tr.editing").get_by_label("Value", exact=True)
    expect(value).to_have_value("https://api.preview-pr-42.shop.example.com")
    expect(value).to_be_focused()
    value.press("End")
    value.type("/v2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash").get_by_text("Updated API_URL.")).to_be_visible()
    preview = shop.environments.get(name="preview/pr-42")
    assert runtime_env(preview)["API_URL"] == "https://api.preview-pr-42.shop.example.com/v2"

    variables.get_by_role("link", name="Edit STRIPE_SECRET_KEY").click()
    expect(page.get_by_label("New value")).to_have_value("")
    assert "sk_test_demo_51HsPrevCanary9S4" not in page.content()


def test_a_taken_variable_name_keeps_the_typed_url_and_links_the_binding(
    page, live_server, shop, shop_member, login
):
    """Issue 21 item 7: the 409 keeps what was typed (in the browser only) and says the way on."""
    login(shop_member(Role.ADMIN))
    page.goto(f"{live_server.url}/deployments/{shop.pk}/env/preview/pr-42/")
    bindings = page.locator("#bindings")
    bindings.get_by_label("Kind").select_option("postgres")
    bindings.get_by_label("Connection URL").fill("postgres://app:first-pw-1@db1.internal/shop")
    bindings.get_by_role("button", name="Bind service").click()
    expect(bindings).to_contain_text("postgres://app:••••@db1.internal/shop")

    typed = "postgres://app:second-pw-2@db2.internal:5432/shop_with_a_long_name"
    bindings.get_by_label("Kind").select_option("postgres")
    bindings.get_by_label("Connection URL").fill(typed)
    bindings.get_by_role("button", name="Bind service").click()
    expect(bindings).to_contain_text("already has a binding injected as DATABASE_URL")
    expect(bindings.get_by_label("Connection URL")).to_have_value(typed)
    assert "second-pw-2" not in page.content()  # kept as the input's value, not sent back

    bindings.get_by_label("Variable name").fill("REPLICA_DATABASE_URL")
    bindings.get_by_role("button", name="Bind service").click()
    expect(bindings).to_contain_text("REPLICA_DATABASE_URL")
    expect(bindings.get_by_label("Connection URL")).to_have_value("")

    bindings.get_by_label("Kind").select_option("postgres")
    bindings.get_by_label("Connection URL").fill(typed)
    bindings.get_by_role("button", name="Bind service").click()
    bindings.get_by_role("link", name="edit the binding").click()
    expect(bindings.get_by_role("button", name="Save")).to_be_visible()


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
