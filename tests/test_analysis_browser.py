"""Auswertung in Debian's chromium: open it, narrow it to one interviewer, open a count's quotes,
download a table and a chart; no serious accessibility problem."""
import csv
import io

import pytest
from playwright.sync_api import expect

from conftest import set_up_vault
from fieldkit import db
from fieldkit.demo import create_demo_data
from test_screens_browser import serious_violations

pytestmark = pytest.mark.browser


def test_filter_open_quotes_and_download(served, page, coordinator):
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_role("link", name="Auswertung").click()
    expect(page.get_by_role("heading", name="Typen im Vergleich zur Relevanz")).to_be_visible()
    chart = page.get_by_role("img", name="Diagramm: Typen im Vergleich zur Relevanz", exact=False)
    expect(chart).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", chart.element_handle()) > 300  # the SVG drawn offline
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
