"""The screens as the interviewer and the organisation's representative see them together, in Debian's
chromium at common laptop and projector sizes: nothing scrolls sideways, the map fills its space and
its names never cover one another, a symbol or the organisation's name; sizes for touch and for a
projector; presentation mode; adding contacts one tap each."""
import os
import random
import re
from math import cos, sin
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import set_up_vault
from fieldkit import db, interviews, maps
from fieldkit.demo import create_demo_data
from fieldkit.guide import latest_guide
from sqlmodel import select

from fieldkit.models import NetworkMap, Organisation, save

pytestmark = pytest.mark.browser

SIZES = [(1024, 768), (1280, 720), (1366, 768), (1920, 1080)]


@pytest.fixture
def demo(served, page, coordinator):
    """The demo vault in the browser, with one more map of 40 contacts: (page, base URL, map pages)."""
    set_up_vault(page, served.launch_url, coordinator[1])
    vault = served.app.extensions["vault"]
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
        crowded, empty = _crowded_map(session, vault.device_id)
        pages = [f"/interviews/{m.interview_id}/maps/{m.id}" for m in session.exec(select(NetworkMap)).all()]
    base = served.launch_url.split("/launch")[0]
    return page, base, [url for url in pages if empty not in url], f"/interviews/{crowded[0]}/maps/{crowded[1]}", \
        f"/interviews/{crowded[0]}/maps/{empty}"


def _crowded_map(session, device_id: str, contacts: int = 40) -> tuple[tuple[str, str], str]:
    """40 contacts spread at random over every sector and ring, with ties among them and to the centre;
    and an empty map beside it: ((interview id, map id), empty map id)."""
    organisation = save(session, device_id, Organisation(name="Interkultureller Eltern- und Jugendverein Rheinufer e. V."))
    interview = interviews.new(session, device_id, organisation, latest_guide(session, "mikoss"), "Ayla")
    interviews.record_consent(session, device_id, interview, "Vorsitz", "written", "2026-11-26", {"network_map"})
    network_map = maps.create(session, device_id, interview, "Vierzig Kontakte")
    sectors = [sector["id"] for sector in maps.config_of(network_map)["sectors"]]
    chance = random.Random(40)
    ids = []
    for number in range(contacts):
        radius, angle = chance.uniform(0.18, 0.97), chance.uniform(0, 6.283)
        step = maps.change(session, device_id, interview, network_map, {"action": "add_alter", "alter": {
            "label": chance.choice(["Beratungsstelle", "Sportverein", "Kita", "Amt für Soziales", "Gemeindezentrum",
                                    "Stiftung", "Elterninitiative"]) + f" {number + 1}",
            "actor_type": chance.choice(sectors), "x": round(radius * sin(angle), 4), "y": round(-radius * cos(angle), 4)}})
        ids.append(step["steps"][0]["record"]["id"])
    for number in range(30):
        source = None if number % 3 == 0 else chance.choice(ids)
        target = chance.choice([alter for alter in ids if alter != source])
        maps.change(session, device_id, interview, network_map, {"action": "add_tie", "tie": {
            "source_id": source, "target_id": target, "type": chance.choice(["cooperation", "conflict", "tension",
                                                                             "power_asymmetry", "competition"])}})
    return (interview.id, network_map.id), maps.create(session, device_id, interview, "Leer").id


def drawn(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("[data-map-editor]")).to_have_attribute("data-drawn", "yes")


MAP_BOXES = """() => {
  const box = (node) => { const r = node.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const ego = document.querySelector('.map-ego');
  return {
    labels: [...document.querySelectorAll('.map .alter .label')].filter((node) => getComputedStyle(node).display !== 'none')
      .map((node) => [node.textContent, box(node)]),
    crowded: document.querySelectorAll('.map .alter .label.crowded').length,
    symbols: [...document.querySelectorAll('.map .alter .symbol')].map((node) => [node.closest('.alter').querySelector('.label').textContent, box(node)]),
    hits: [...document.querySelectorAll('.map .alter .hit')].map((node) => node.getBoundingClientRect().width),
    ego: box(ego.querySelector('text')),
    fonts: [...document.querySelectorAll('.map .alter .label')].filter((node) => getComputedStyle(node).display !== 'none')
      .map((node) => node.getBoundingClientRect().height / 1.16),
    ties: [...document.querySelectorAll('.map .tie')].map((node) => parseFloat(node.getAttribute('stroke-width')) * node.getScreenCTM().a),
    map: box(document.querySelector('svg.map')),
    scroll: [document.documentElement.scrollWidth, document.documentElement.clientWidth,
             document.documentElement.scrollHeight, document.documentElement.clientHeight],
  };
}"""


def overlap(a, b, tolerance: float = 0.5) -> bool:
    return a[0] + tolerance < b[2] and b[0] + tolerance < a[2] and a[1] + tolerance < b[3] and b[1] + tolerance < a[3]


def assert_readable(boxes: dict, where: str) -> None:
    labels = boxes["labels"]
    for index, (name, box) in enumerate(labels):
        for other, other_box in labels[index + 1:]:
            assert not overlap(box, other_box), f"{where}: the names {name!r} and {other!r} overlap"
        for owner, symbol in boxes["symbols"]:
            assert not overlap(box, symbol), f"{where}: the name {name!r} covers the symbol of {owner!r}"
        assert not overlap(box, boxes["ego"]), f"{where}: the name {name!r} covers the organisation's name"
    assert min(boxes["hits"], default=44) >= 44, f"{where}: a contact is smaller than a 44 px touch target"
    assert min(boxes["ties"], default=3) >= 3, f"{where}: a tie is thinner than 3 px"


@pytest.mark.parametrize("width,height", SIZES)
def test_the_map_fills_the_window_and_its_names_never_overlap(demo, width, height):
    page, base, pages, crowded, empty = demo
    page.set_viewport_size({"width": width, "height": height})
    for url in pages:
        drawn(page, base + url)
        boxes = page.evaluate(MAP_BOXES)
        scroll_width, client_width, scroll_height, client_height = boxes["scroll"]
        assert scroll_width <= client_width, f"{url} at {width}×{height} scrolls sideways"
        assert scroll_height <= client_height, f"{url} at {width}×{height} scrolls"
        assert_readable(boxes, f"{url} at {width}×{height}")
        if width >= 1366:
            assert min(boxes["fonts"], default=14) >= 14 - 0.5, f"names smaller than 14 px at {width}×{height}"
    assert crowded in pages


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_presentation_shows_the_whole_map_its_legend_and_the_way_back(demo, width, height):
    page, base, pages, crowded, empty = demo
    page.set_viewport_size({"width": width, "height": height})
    drawn(page, base + crowded)
    normal = page.evaluate(MAP_BOXES)
    page.get_by_role("button", name="Präsentation (P)").click()
    expect(page.locator(".topbar")).to_be_hidden()
    for hidden in ("Rückgängig", "Beziehung ziehen (T)"):
        expect(page.get_by_role("button", name=hidden)).to_be_hidden()
    expect(page.get_by_role("link", name="Entstehung abspielen")).to_be_hidden()
    expect(page.locator("#new-tie-type")).to_be_hidden()
    expect(page.locator(".legend")).to_be_visible()
    page.wait_for_function("() => document.querySelector('.map .alter .label').getAttribute('font-size') > 15.1")
    boxes = page.evaluate(MAP_BOXES)
    left, top, right, bottom = boxes["map"]
    assert left >= 0 and top >= 0 and right <= width and bottom <= height
    assert boxes["scroll"][0] <= boxes["scroll"][1] and boxes["scroll"][2] <= boxes["scroll"][3]
    assert min(boxes["fonts"]) > min(normal["fonts"]), "presentation mode shows larger names"
    assert_readable(boxes, f"presentation at {width}×{height}")
    page.get_by_role("button", name="Präsentation beenden (P)").click()
    expect(page.locator(".topbar")).to_be_visible()


def test_three_contacts_with_three_taps(demo):
    page, base, pages, crowded, empty = demo
    page.set_viewport_size({"width": 1366, "height": 768})
    drawn(page, base + empty)
    before = 0
    for number, (x, y) in enumerate([(0.5, -0.55), (-0.6, 0.35), (0.1, 0.75)]):
        point = page.evaluate("""([x, y]) => { const svg = document.querySelector('svg.map'), r = Number(svg.dataset.radius);
            const p = svg.createSVGPoint(); p.x = x * r; p.y = y * r; const s = p.matrixTransform(svg.getScreenCTM()); return [s.x, s.y]; }""", [x, y])
        page.mouse.click(*point)
        expect(page.get_by_role("heading", name="Neuer Kontakt")).to_be_visible()
        page.keyboard.type(f"Neuer Kontakt {number + 1}")
        page.keyboard.press("Enter")
        expect(page.locator(".map .alter")).to_have_count(before + number + 1)
    expect(page.locator("#map-status")).to_contain_text("Gespeichert")


# The other screens ---------------------------------------------------------------------------------

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
SCREENSHOTS = Path(__file__).parent.parent / "screenshots"
# The README's pictures: made here when missing, or anew with FIELDKIT_UPDATE_SCREENSHOTS=1.
README_SHOTS, README_SCREENS = Path(__file__).parent.parent / "docs" / "screenshots", ("interviews", "guide", "map", "exchange", "anonymisation")


def demo_places(demo) -> dict:
    """The main screens of the demo vault, by name: their addresses."""
    page, base, pages, crowded, empty = demo
    page.goto(base + "/interviews/")
    open_row = page.locator("tr", has_text="Bildungsbrücke")
    interview = open_row.get_by_role("link").first.get_attribute("href")
    page.goto(base + "/organisations/")
    organisation = page.get_by_role("link", name=re.compile("Bildungsbrücke")).first.get_attribute("href")
    return {"interviews": "/interviews/", "interview": interview, "guide": interview + "/guide", "quotes": interview + "/quotes",
            "map": [url for url in pages if url.startswith(interview)][0], "organisation": organisation,
            "profile": organisation + "/profile", "guides": "/guides/", "exchange": "/exchange/", "anonymisation": "/steward/"}


def readme_shot(page, name: str) -> None:
    """The page as the README shows it: made when missing, or anew with FIELDKIT_UPDATE_SCREENSHOTS=1."""
    target = README_SHOTS / f"{name}.png"
    if os.environ.get("FIELDKIT_UPDATE_SCREENSHOTS") or not target.exists():
        README_SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=target)


def serious_violations(page) -> list[str]:
    """axe-core's findings of impact serious or critical on the page as it stands."""
    found = page.evaluate(AXE + "\n;axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} – {[n['target'] for n in v['nodes']][:3]}" for v in found["violations"]
            if v["impact"] in ("serious", "critical")]


def test_main_screens_pass_axe_and_are_saved_as_screenshots(demo):
    page = demo[0]
    page.set_viewport_size({"width": 1366, "height": 768})
    places = demo_places(demo)
    SCREENSHOTS.mkdir(exist_ok=True)
    problems = {}
    for name in ("interviews", "guide", "map", "profile", "quotes", "exchange", "organisation", "guides", "anonymisation"):
        page.goto(demo[1] + places[name])
        page.wait_for_load_state("networkidle")
        page.screenshot(path=SCREENSHOTS / f"{name}-1366x768.png")
        if name in README_SCREENS:
            readme_shot(page, name)
        found = serious_violations(page)
        if found:
            problems[name] = found
        if name == "map":
            page.keyboard.press("p")
            page.wait_for_timeout(300)
            page.screenshot(path=SCREENSHOTS / "map-presentation-1366x768.png")
    assert problems == {}


@pytest.mark.parametrize("width", [1024, 1280, 1366])
def test_the_top_bar_is_one_row(demo, width):
    page = demo[0]
    page.set_viewport_size({"width": width, "height": 768})
    page.goto(demo[1] + "/interviews/")
    assert page.locator(".topbar").bounding_box()["height"] < 70
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_quoting_explains_itself_and_the_quotes_say_where_they_come_from(demo):
    page = demo[0]
    places = demo_places(demo)
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.type), dialog.dismiss()))
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(demo[1] + places["guide"] + "?section=resources&mode=question")  # no note taken here yet
    question_id = page.locator(".question").filter(has=page.locator(".save-slot:empty")).first.get_attribute("id")
    question = page.locator(f"[id=\"{question_id}\"]")
    button, tools = question.locator(".mark-quote"), question.locator(".note-tools")

    def place():  # where the button sits within its row of tools, whatever the page's scroll
        row, own = tools.bounding_box(), button.bounding_box()
        return own["x"] - row["x"], own["y"] - row["y"]

    before = place()
    button.click()
    expect(question.locator(".quote-hint")).to_have_text("Bitte zuerst die Textstelle markieren, die zitiert werden soll.")
    assert page.dialogs == []
    question.locator("textarea").type("Ein neuer Satz.")
    expect(question.locator(".save-status")).to_contain_text("Gespeichert")
    assert place() == before, "the quote button moved when the note was saved"
    page.goto(demo[1] + places["quotes"])
    expect(page.locator(".quote-source").first).to_contain_text("Aus den Notizen zu:")


def test_the_profile_names_its_fields_and_says_it_is_saved(demo):
    page = demo[0]
    places = demo_places(demo)
    page.expected_errors.append("the server responded with a status of 400")
    page.goto(demo[1] + places["profile"])
    page.get_by_label("Gegründet (Jahr)").fill("neunzehnhundert")
    page.get_by_label("Hauptamtliche").fill("-3")
    page.get_by_role("button", name="Profil speichern").click()
    expect(page.locator(".errors")).to_contain_text("Gegründet (Jahr)")
    expect(page.locator(".errors")).not_to_contain_text("founded")
    expect(page.locator(".errors")).not_to_contain_text("staff_paid")
    expect(page.get_by_label("Gegründet (Jahr)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-founded")).to_be_visible()
    page.get_by_label("Gegründet (Jahr)").fill("1998")
    page.get_by_label("Hauptamtliche").fill("9")
    page.get_by_role("button", name="Profil speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Das Profil ist gespeichert.")


def test_english_mode_is_complete_and_dates_are_localised(demo):
    page = demo[0]
    places = demo_places(demo)
    page.goto(demo[1] + places["interview"])
    expect(page.locator("main")).not_to_contain_text(re.compile(r"\b20\d\d-\d\d-\d\d\b"))
    page.get_by_role("button", name="English").click()
    page.goto(demo[1] + "/guides/")
    expect(page.locator(".codebook")).to_contain_text("Cooperation")
    expect(page.locator(".codebook")).not_to_contain_text("Kooperation")
    expect(page.locator("main table")).to_contain_text("Expert interview with migrant organisations")
    page.goto(demo[1] + places["quotes"])
    expect(page.locator(".code-chip").first).to_be_visible()
    assert not page.locator(".code-chip", has_text="Kooperation").count()
    page.goto(demo[1] + places["interview"])
    expect(page.locator("main")).not_to_contain_text(re.compile(r"\b20\d\d-\d\d-\d\d\b"))
    page.get_by_role("button", name="Deutsch").click()
