"""Nothing typed may be lost: a note typed just before the page changes (a link, Alt+N, the lock, the
idle lock) is saved first, without a "leave page?" dialog, and Back never shows text the vault lacks."""
import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from fieldkit.models import Answer

from conftest import consented_interview

pytestmark = pytest.mark.browser


@pytest.fixture
def guide_page(served, page):
    """The guide of a consented interview, open in the browser with a fresh vault."""
    from conftest import PASSPHRASE

    page.goto(served.launch_url)
    page.get_by_label("Passphrase", exact=True).fill(PASSPHRASE)
    page.get_by_label("Passphrase wiederholen").fill(PASSPHRASE)
    from fieldkit.vault import new_project_identity

    page.get_by_label("Öffentlichen Schlüssel einfügen").fill(new_project_identity()[1])
    page.get_by_role("button", name="Tresor anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Interviews")
    interview = consented_interview(served.app.extensions["vault"], "Nachbarschaftsverein Ost", {"quotes"})
    page.goto(f"http://127.0.0.1:{served.port}/interviews/{interview.id}/guide")
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.type), dialog.dismiss()))
    return page


def notes_in_vault(served) -> list[str]:
    with Session(served.app.extensions["vault"].engine) as session:
        return sorted(answer.text for answer in session.exec(select(Answer)))


def type_quickly(page, text: str) -> None:
    page.get_by_label("Notizen").first.click()
    page.keyboard.type(text, delay=5)  # the last keys come well within the 0.7 s autosave pause


@pytest.mark.parametrize("leave", ["alt_n", "next_button", "nav_link", "lock_button"])
def test_a_note_typed_just_before_leaving_is_saved_without_a_dialog(served, guide_page, leave):
    page = guide_page
    text = "Die Stadt fördert uns seit 2019, aber nur projektweise."
    type_quickly(page, text)
    if leave == "alt_n":
        page.keyboard.press("Alt+n")
    elif leave == "next_button":
        page.get_by_role("link", name="Weiter").click()
    elif leave == "nav_link":
        page.get_by_role("link", name="Organisationen").click()
    else:
        page.get_by_role("button", name="Sperren").click()
    expected_heading = {"alt_n": None, "next_button": None, "nav_link": "Organisationen",
                        "lock_button": "fieldkit entsperren"}[leave]
    if expected_heading:
        expect(page.get_by_role("heading", level=1)).to_have_text(expected_heading)
    else:
        expect(page.get_by_role("heading", level=2).first).to_contain_text("Wen erreichen Sie")
    assert page.dialogs == []
    if leave == "lock_button":  # the vault is locked now: look after unlocking
        from conftest import PASSPHRASE

        served.app.extensions["vault"].unlock(PASSPHRASE)
    assert notes_in_vault(served) == [text]


def test_back_shows_only_what_the_vault_has(served, guide_page):
    page = guide_page
    text = "Wir treffen uns jeden Dienstag im Gemeindehaus."
    type_quickly(page, text)
    page.keyboard.press("Alt+n")
    expect(page.get_by_role("heading", level=2).first).to_contain_text("Wen erreichen Sie")
    page.go_back()
    expect(page.get_by_label("Notizen")).to_have_value(text)
    expect(page.locator(".save-status.saved")).to_be_visible()
    assert notes_in_vault(served) == [text]


def test_the_idle_lock_saves_the_note_before_it_locks(served, guide_page):
    page = guide_page
    served.app.extensions["idle_minutes"] = 0.05  # 3 s
    page.reload()  # the page reads the idle time when it loads
    text = "Zuletzt notiert, dann vom Tisch aufgestanden."
    type_quickly(page, text)
    expect(page.get_by_role("heading", level=1)).to_have_text("fieldkit entsperren", timeout=15000)
    from conftest import PASSPHRASE

    served.app.extensions["vault"].unlock(PASSPHRASE)
    assert notes_in_vault(served) == [text]
