"""Auswertung in Debian's chromium: open it, narrow it to one interviewer, open a count's quotes,
download a table and a chart; no serious accessibility problem."""
import csv
import re
import io

import pytest
from playwright.sync_api import expect

from conftest import set_up_vault
from fieldkit import db
from fieldkit.demo import create_demo_data
from test_screens_browser import serious_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_page(served, page, coordinator):
    """The demo vault in chromium at a common laptop size."""
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
    page.set_viewport_size({"width": 1366, "height": 768})
    return page


def test_filter_open_quotes_and_download(demo_page):
    page = demo_page
    page.get_by_role("link", name="Auswertung").click()
    expect(page.get_by_role("heading", name="Typen im Vergleich zur Relevanz")).to_be_visible()
    chart = page.get_by_role("img", name="Diagramm: Typen im Vergleich zur Relevanz", exact=False)
    expect(chart).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 300", arg=chart.element_handle())  # the SVG drawn offline
    expect(page.get_by_role("status").first).to_contain_text("2 Interviews")
    assert serious_violations(page) == []

    # One interviewer only: the counts follow.
    interviewer = page.locator("input[name=interviewer]").first
    interviewer.check()
    page.get_by_role("button", name="Anzeigen").click()
    expect(page.get_by_role("status").first).to_contain_text("1 Interview,")

    # Back to all; a count opens its quotes.
    page.get_by_role("link", name="Alle Interviews").click()
    count = page.locator("#table-codes a").first
    count.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zitate:")
    expect(page.locator(".quote").first).to_be_visible()
    page.go_back()

    with page.expect_download() as table:
        page.locator("a[href*='/analysis/table/actor_types.csv']").click()
    rows = list(csv.reader(io.StringIO(open(table.value.path(), encoding="utf-8-sig").read())))
    assert rows[0][1:] == ["Akteurstyp", "Kontakte", "Anteil (%)", "Mittlere Relevanz"]
    with page.expect_download() as picture:
        page.locator("a[href*='/analysis/chart/actor_types.svg']").first.click()
    assert open(picture.value.path(), encoding="utf-8").read().startswith("<svg")


def test_link_a_quote_to_a_contact_and_a_tie_and_find_them_from_the_map(demo_page):
    page = demo_page
    page.get_by_role("link", name="Interviews").click()
    page.locator("tr", has_text="Bildungsbrücke").get_by_role("link").first.click()
    page.get_by_role("link", name="1 Zitat").click()
    quote = page.locator(".quote").first
    expect(quote.locator(".link-chip")).to_contain_text("Netzwerk heute · Kooperation: Ego")  # the demo's own link
    choice = quote.get_by_label("Zu einem Kontakt oder einer Beziehung der Karte")
    choice.select_option(label="Schulamt Musterstadt")
    quote.get_by_role("button", name="Verknüpfen").click()
    expect(page.locator(".quote").first.locator(".link-chip", has_text="Schulamt Musterstadt")).to_have_count(1)
    tie = page.locator(".quote").first.locator("option", has_text="Machtasymmetrie").filter(has_text="Schulamt")
    page.locator(".quote").first.get_by_label("Zu einem Kontakt oder einer Beziehung der Karte").select_option(
        value=tie.get_attribute("value"))
    page.locator(".quote").first.get_by_role("button", name="Verknüpfen").click()
    tie_chip = page.locator(".quote").first.locator(".link-chip", has_text="Machtasymmetrie")
    expect(tie_chip).to_be_visible()

    # From the quote to the map: the tie is selected and the quote stands beside the map.
    tie_chip.get_by_role("link").click()
    expect(page.locator("[data-map-editor]")).to_have_attribute("data-drawn", "yes")
    expect(page.locator(".tie.selected title")).to_have_text(re.compile("Machtasymmetrie"))
    expect(page.locator("#linked-quotes")).to_contain_text("Mit dem Kommunalen Integrationszentrum planen wir")
    page.keyboard.press("Escape")
    expect(page.locator("#linked-quotes")).to_be_hidden()
    # And from the map to the quote: selecting the contact shows its quote too.
    page.locator(".alter", has_text="Schulamt Musterstadt").focus()
    expect(page.locator("#linked-quotes")).to_contain_text("Mit dem Kommunalen Integrationszentrum planen wir")
