"""German first: every message the user can see has a German translation, compiled and in use."""
import subprocess
import sys

import pytest

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from fieldkit.i18n import TRANSLATIONS_DIR


def test_every_message_has_a_german_translation(repo_root, tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_",
                    "-k", "t", "--no-location", "-o", str(template), "."], cwd=repo_root, check=True,
                   capture_output=True)
    extracted = {message.id if isinstance(message.id, str) else message.id[0]
                 for message in read_po(template.open("rb")) if message.id}
    with open(TRANSLATIONS_DIR / "de" / "LC_MESSAGES" / "messages.po", "rb") as po:
        german = {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in read_po(po) if m.id}
    missing = sorted(m for m in extracted if not german.get(m) or (isinstance(german[m], tuple) and not all(german[m])))
    assert missing == [], "run the translation steps in the README"


def test_compiled_catalogue_matches_the_po_file():
    folder = TRANSLATIONS_DIR / "de" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po, open(folder / "messages.mo", "rb") as mo:
        written = {_key(m.id): _key(m.string) for m in read_po(po) if m.id and not m.fuzzy}
        compiled = {_key(m.id): _key(m.string) for m in read_mo(mo) if m.id}
    assert written == compiled, "run: pybabel compile -d fieldkit/translations"


def test_pages_speak_german_first_and_english_on_request(client, guard):
    assert "fieldkit auf diesem Laptop einrichten" in client.get("/setup").get_data(as_text=True)
    client.post("/settings/language", data={"csrf_token": guard.csrf_token, "lang": "en", "next": "/setup"})
    assert "Set up fieldkit on this laptop" in client.get("/setup").get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "evil"])
def test_language_switch_only_redirects_inside_the_app(client, guard, target):
    response = client.post("/settings/language", data={"csrf_token": guard.csrf_token, "lang": "de", "next": target})
    assert response.headers["Location"] == "/"


def _key(value):
    return value if isinstance(value, str) else tuple(value)
