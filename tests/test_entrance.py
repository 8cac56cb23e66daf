"""A start's entrance (fieldkit/entrance.py): the first page before the app stands, the app behind it
taking over with the same cookie and CSRF token, on a real socket."""
import http.cookiejar
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request

import pytest

from fieldkit.entrance import FRONT_PATHS, LAYOUT_LINKS, Entrance
from fieldkit.local_server import LocalServer
from fieldkit.vault import Vault

from conftest import FAST_KDF, FAST_KDF_ENV, PASSPHRASE


def test_the_entrance_links_where_the_app_does(app):
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for path, endpoint, methods in LAYOUT_LINKS:
        assert rules[endpoint].rule == path and set(methods) <= rules[endpoint].methods
    assert {rules["vault.unlock"].rule, rules["vault.setup"].rule} == set(FRONT_PATHS)


@pytest.fixture
def start(tmp_path, monkeypatch):
    """`fieldkit serve` as it starts on a data directory: an entrance on a real socket."""
    for key, value in FAST_KDF_ENV.items():
        monkeypatch.setenv(key, value)
    running = []

    def start(data_dir):
        entrance = Entrance(data_dir)
        entrance.build_after_page = False  # built when a request needs it: each step of a test is then certain
        server = LocalServer(entrance)
        server.start()
        running.append((entrance, server))
        return entrance, server

    yield start
    for entrance, server in running:
        server.shutdown()
        if entrance.is_built:
            entrance.extensions["vault"].lock()


@pytest.fixture
def started(start, tmp_path, coordinator):
    """The start over a vault set up before."""
    vault = Vault(tmp_path / "data", memory_kib=FAST_KDF["ARGON2_MEMORY_KIB"], iterations=FAST_KDF["ARGON2_ITERATIONS"])
    vault.create(PASSPHRASE, [coordinator[1]])
    vault.lock()
    return start(tmp_path / "data")


def browser():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def test_the_first_page_comes_from_the_entrance_and_the_app_takes_over_with_its_cookie_and_token(started):
    entrance, server = started
    opener, origin = browser(), f"http://127.0.0.1:{server.port}"
    with pytest.raises(urllib.error.HTTPError) as refused:  # the guard stands before the app does
        opener.open(urllib.request.Request(origin + "/unlock", headers={"Host": f"evil.example:{server.port}"}))
    assert refused.value.code == 403 and "Diese Adresse ist nicht erlaubt" in refused.value.read().decode()
    with opener.open(server.launch_url) as response:
        page = response.read().decode()
    assert response.url == origin + "/unlock" and "Passphrase" in page
    style = re.search(r'href="(/static/fieldkit\.css\?v=\w+)"', page).group(1)
    assert opener.open(origin + style).status == 200
    assert not entrance.is_built  # nothing so far needed the app
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"passphrase": PASSPHRASE, "csrf_token": token}).encode()
    with opener.open(origin + "/unlock", data=form) as response:  # waits for the app, which accepts the token
        assert response.url == origin + "/interviews/" and "Interviews" in response.read().decode()
    assert entrance.is_built and entrance.extensions["vault"].is_unlocked
    with opener.open(origin + "/unlock") as response:  # the app answers everything now
        assert response.url == origin + "/interviews/"


def test_a_first_start_shows_the_setup_page_from_the_entrance(start, tmp_path, coordinator):
    entrance, server = start(tmp_path / "new")
    opener, origin = browser(), f"http://127.0.0.1:{server.port}"
    with opener.open(server.launch_url) as response:
        page = response.read().decode()
    assert response.url == origin + "/setup" and "Tresor anlegen" in page
    assert not entrance.is_built
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"passphrase": PASSPHRASE, "confirmation": PASSPHRASE, "recipient": coordinator[1],
                                   "csrf_token": token}).encode()
    with opener.open(origin + "/setup", data=form) as response:
        assert response.url == origin + "/interviews/"
    assert entrance.extensions["vault"].exists and entrance.extensions["vault"].is_unlocked


def test_the_first_page_needs_neither_the_database_layer_nor_the_views(tmp_path):
    """What makes the start fast, checked in a fresh interpreter: the unlock page is served before
    SQLAlchemy, SQLModel or any view is imported."""
    script = textwrap.dedent("""
        import http.cookiejar, sys, urllib.request
        from fieldkit.entrance import Entrance
        from fieldkit.local_server import LocalServer
        entrance = Entrance(sys.argv[1])
        entrance.build_after_page = False
        server = LocalServer(entrance)
        server.start()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(server.launch_url).read().decode()
        print("csrf_token" in page, sorted(m for m in ("sqlalchemy", "sqlmodel", "fieldkit.views", "fieldkit.models") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True []", done.stdout + done.stderr


def test_an_app_that_cannot_be_built_is_told_in_a_page_behind_the_guard(tmp_path):
    """A broken installation (here: SQLModel fails to import) shows the error page with an error number
    to everyone who entered, and nothing but the guard's refusal to anyone else."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "sqlmodel.py").write_text('raise ImportError("a broken installation")\n')
    script = textwrap.dedent("""
        import http.cookiejar, sys, urllib.error, urllib.request
        from fieldkit.entrance import Entrance
        from fieldkit.local_server import LocalServer
        entrance = Entrance(sys.argv[1])
        server = LocalServer(entrance)
        server.start()
        origin = f"http://127.0.0.1:{server.port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        opener.open(server.launch_url).read()
        for who, path in ((opener, "/"), (opener, "/unlock"), (urllib.request.build_opener(), "/")):
            try:
                who.open(origin + path)
            except urllib.error.HTTPError as answer:
                page = answer.read().decode()
                print(answer.code, "Fehlernummer" in page, "Content-Security-Policy" in answer.headers)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(shadow)})
    assert done.stdout.split("\n")[:3] == ["500 True True", "500 True True", "403 False True"], done.stdout + done.stderr
    log = (tmp_path / "data" / "logs" / "fieldkit.log").read_text(encoding="utf-8")
    assert "the app could not be built" in log and "a broken installation" in log


@pytest.mark.browser
def test_fieldkit_serve_in_a_browser_sets_up_through_the_entrance_and_switches_language(page, tmp_path, coordinator):
    """The real command in chromium: the first-run page and its files from the entrance (no console
    error, no CSP violation), the language switch and setup answered by the app built behind it."""
    from playwright.sync_api import expect

    from conftest import set_up_vault
    from test_cli import start_serving

    process, url = start_serving(tmp_path / "data")
    try:
        page.goto(url)
        expect(page.get_by_role("button", name="Tresor anlegen")).to_be_visible()
        page.get_by_role("button", name="English").click()  # a POST: waits for the app, which answers
        expect(page.get_by_role("button", name="Deutsch")).to_be_visible()
        page.get_by_role("button", name="Deutsch").click()
        set_up_vault(page, page.url, coordinator[1])
    finally:
        process.terminate()
        process.wait(timeout=30)
