"""Drawing a network map in Debian's chromium: by pointer (mouse or touch alike: pointer events), by
keyboard alone, with ties, a cancelled tie, undo/redo, a reload, and the replay."""
import re

import pytest
from playwright.sync_api import Error as PlaywrightError, expect

from conftest import consented_interview, set_up_vault

pytestmark = pytest.mark.browser


@pytest.fixture
def editor(served, page, coordinator):
    """A consented interview; the map is started from the interview page as an interviewer does."""
    set_up_vault(page, served.launch_url, coordinator[1])
    interview = consented_interview(served.app.extensions["vault"], "Frauentreff Nord", {"network_map", "quotes"})
    page.goto(served.launch_url.split("/launch")[0] + f"/interviews/{interview.id}")
    page.get_by_role("button", name="Netzwerkkarte beginnen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Netzwerk heute")
    expect(page.locator("[data-map-editor]")).to_have_attribute("data-drawn", "yes")
    return page


def saved(page):
    expect(page.locator("#map-status")).to_contain_text("Gespeichert")


def on_screen(page, x: float, y: float) -> tuple[float, float]:
    """Where a point of the map (ego at 0,0, outer edge at radius 1, y down) is on the screen."""
    return tuple(page.evaluate("""([x, y]) => { const svg = document.querySelector('svg.map');
        const r = Number(svg.dataset.radius), p = svg.createSVGPoint(); p.x = x * r; p.y = y * r;
        const s = p.matrixTransform(svg.getScreenCTM()); return [s.x, s.y]; }""", [x, y]))


def drag_chip_to(page, sector_name: str, x: float, y: float) -> None:
    """Drag a type from the palette onto the map, to a point in map coordinates (the side panel scrolls
    by itself: the chip is brought into view first, as a hand would scroll to it)."""
    page.locator(".palette .chip", has_text=sector_name).scroll_into_view_if_needed()
    chip = page.locator(".palette .chip", has_text=sector_name).bounding_box()
    page.mouse.move(chip["x"] + chip["width"] / 2, chip["y"] + chip["height"] / 2)
    page.mouse.down()
    page.mouse.move(chip["x"] - 40, chip["y"] + 10, steps=4)
    page.mouse.move(*on_screen(page, x, y), steps=8)
    page.mouse.up()


def tap(page, label: str) -> None:
    """A tap on a contact's symbol, where a finger or the mouse would press."""
    symbol = page.locator(".alter", has_text=label).locator("path")
    for attempt in range(3):  # the map may draw its contacts anew (a mode changed) just as the symbol is found
        try:
            symbol.scroll_into_view_if_needed()
            break
        except PlaywrightError as error:
            if "not attached" not in str(error) or attempt == 2:
                raise
    box = symbol.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def add_by_drag(page, sector_name: str, label: str, x: float, y: float) -> None:
    drag_chip_to(page, sector_name, x, y)
    expect(page.get_by_role("heading", name="Neuer Kontakt")).to_be_visible()
    page.get_by_label("Name").fill(label)
    page.keyboard.press("Enter")
    saved(page)


def test_draw_by_pointer_tie_cancel_undo_reload_and_replay(editor):
    page = editor
    # Eight sectors from twelve o'clock, clockwise: the state's is the second, up and right.
    add_by_drag(page, "Staatlicher Akteur", "Jobcenter", 0.4, -0.3)
    add_by_drag(page, "Religiöse Einrichtung", "Moschee", -0.3, 0.6)
    alters = page.locator(".map .alter")
    expect(alters).to_have_count(2)
    expect(page.locator(".alter", has_text="Jobcenter")).to_have_attribute("aria-label", re.compile("Staatlicher Akteur"))
    expect(page.locator("[data-measure=size]")).to_have_text("2")

    # Drag the Jobcenter further out within its sector: saved as one move.
    box = page.locator(".alter", has_text="Jobcenter").locator("path").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(*on_screen(page, 0.8, -0.45), steps=10)
    page.mouse.up()
    saved(page)
    expect(page.locator("#alter-where")).to_contain_text("Ring 4")
    expect(page.get_by_role("button", name="Kontakt entfernen")).to_be_visible()  # editing, not adding
    expect(page.get_by_role("button", name="Auf die Karte setzen")).to_be_hidden()

    # A tie: select, "draw a tie", pick the other end.
    tap(page, "Jobcenter")
    page.locator("#new-tie-type").select_option(label="Konflikt")
    page.get_by_role("button", name="Beziehung ziehen (T)").click()
    expect(page.locator("#map-hint")).to_contain_text("andere Ende")
    tap(page, "Moschee")
    expect(page.locator(".map .tie")).to_have_count(1)
    expect(page.locator("#tie-ends")).to_have_text("Jobcenter – Moschee")
    saved(page)

    # A tie started and cancelled with Escape: the next tap only selects.
    tap(page, "Moschee")
    page.keyboard.press("t")
    expect(page.get_by_role("button", name="Beziehung abbrechen (Esc)")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Beziehung ziehen (T)")).to_be_visible()
    tap(page, "Jobcenter")
    expect(page.locator(".map .tie")).to_have_count(1)

    # Undo takes the tie back; it stays undone after a reload; redo brings it again.
    page.get_by_role("button", name="Rückgängig").click()
    expect(page.locator(".map .tie")).to_have_count(0)
    saved(page)
    page.reload()
    expect(page.locator(".map .alter")).to_have_count(2)
    expect(page.locator(".map .tie")).to_have_count(0)
    page.get_by_role("button", name="Wiederholen").click()
    expect(page.locator(".map .tie")).to_have_count(1)
    saved(page)
    page.reload()
    expect(page.locator(".map .tie")).to_have_count(1)
    expect(page.locator(".map .tie title")).to_have_text("Konflikt")

    # The replay plays the drawing back step by step.
    page.get_by_role("link", name="Entstehung abspielen").click()
    expect(page.locator(".map .alter")).to_have_count(2)
    page.get_by_role("button", name="Zum Anfang").click()
    expect(page.locator(".map .alter")).to_have_count(0)
    expect(page.locator("#replay-caption")).to_have_text("Die leere Karte, vor dem ersten Schritt.")
    page.get_by_role("button", name="Einen Schritt vor").click()  # the map was created
    page.get_by_role("button", name="Einen Schritt vor").click()
    expect(page.locator(".map .alter")).to_have_count(1)
    expect(page.locator("#replay-caption")).to_contain_text("Kontakt hinzugefügt: Jobcenter")
    page.get_by_role("button", name="Abspielen").click()
    expect(page.locator("#replay-caption")).to_contain_text("Wiederhergestellt", timeout=15000)
    expect(page.locator(".map .tie")).to_have_count(1)


def test_keyboard_alone_and_a_move_across_a_sector_border(editor):
    page = editor
    # Press a type (no pointer): the contact goes to the middle of its sector, in the outer ring.
    page.locator(".palette .chip", has_text="Migrantenorganisation").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("Elternnetzwerk")
    page.keyboard.press("Enter")
    saved(page)
    contact = page.locator(".alter", has_text="Elternnetzwerk")
    expect(contact).to_be_focused()

    # Arrow keys move it; crossing into the next sector asks whether the actor type changes.
    for key in ["Shift+ArrowRight"] * 5 + ["Shift+ArrowDown"] * 2:
        page.keyboard.press(key)
    dialog = page.locator("#sector-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Elternnetzwerk liegt jetzt im Sektor Staatlicher Akteur")
    page.get_by_role("button", name="Ja, Typ ändern in Staatlicher Akteur").click()
    saved(page)
    expect(contact).to_have_attribute("aria-label", re.compile("Staatlicher Akteur"))

    # A tie to the organisation in the centre: T, Shift+Tab to ego, Enter.
    contact.focus()
    page.keyboard.press("t")
    page.keyboard.press("Shift+Tab")
    expect(page.locator(".map-ego")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".map .tie")).to_have_count(1)
    saved(page)

    # Delete removes the contact with its tie; Ctrl+Z brings both back, also after a reload.
    contact.focus()
    page.keyboard.press("Delete")
    expect(page.locator(".map .alter")).to_have_count(0)
    expect(page.locator(".map .tie")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(page.locator(".map .alter")).to_have_count(1)
    saved(page)
    page.reload()
    expect(page.locator(".map .alter")).to_have_count(1)
    expect(page.locator(".map .tie")).to_have_count(1)

    # Presentation mode hides everything but the map and its legend.
    page.keyboard.press("p")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".legend")).to_be_visible()
