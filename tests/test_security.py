"""The local server admits only its own window: Host check, launch secret, CSRF, strict headers."""
import ast
import logging
import re
import time
from http.cookiejar import CookieJar
from urllib.request import HTTPCookieProcessor, build_opener

import pytest

from conftest import PORT
from fieldkit.local_server import LocalServer

PROTECTED = ["/", "/organisations/", "/settings/", "/unlock", "/setup", "/static/htmx.min.js"]


@pytest.mark.parametrize("path", PROTECTED)
def test_request_without_the_launch_cookie_is_forbidden(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 403
    assert b"one-time address" in response.data or "Einmal-Adresse".encode() in response.data


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:1", f"127.0.0.2:{PORT}", "localhost"])
def test_foreign_host_header_is_forbidden_even_with_the_cookie(client, host):
    response = client.get("/unlock", base_url=f"http://{host}")
    assert response.status_code == 403


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}"])
def test_own_host_names_are_admitted(app, guard, host):
    client = app.test_client()
    launch = guard.launch_url().removeprefix(f"http://127.0.0.1:{PORT}")
    assert client.get(launch, base_url=f"http://{host}").status_code == 302
    assert client.get("/setup", base_url=f"http://{host}").status_code == 200


def test_launch_url_works_once_and_sets_a_strict_cookie(app, guard):
    path = guard.launch_url().removeprefix(f"http://127.0.0.1:{PORT}")
    first = app.test_client().get(path)
    assert first.status_code == 302
    cookie = first.headers["Set-Cookie"]
    assert f"fieldkit_{PORT}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert app.test_client().get(path).status_code == 403


def test_wrong_launch_token_is_forbidden(app):
    assert app.test_client().get("/launch/guessed-token").status_code == 403


def test_wrong_cookie_value_is_forbidden(app):
    client = app.test_client()
    client.set_cookie(f"fieldkit_{PORT}", "guessed-secret", domain="127.0.0.1")
    assert client.get("/setup").status_code == 403


def test_state_change_without_csrf_token_is_forbidden(unlocked, client, guard):
    assert client.post("/lock").status_code == 403
    assert client.post("/lock", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert unlocked.extensions["vault"].is_unlocked
    assert client.post("/lock", headers={"X-CSRF-Token": guard.csrf_token}).status_code == 302
    assert not unlocked.extensions["vault"].is_unlocked


def test_csrf_token_in_a_form_field_is_accepted(unlocked, client, guard):
    assert client.post("/lock", data={"csrf_token": guard.csrf_token}).status_code == 302


@pytest.mark.parametrize("path", ["/setup", "/launch/x", "/static/fieldkit.css"])
def test_every_response_carries_strict_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert not re.search(r"https?:", csp), "no remote origins"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_templates_have_no_inline_script_style_or_handlers(repo_root):
    for template in (repo_root / "templates").rglob("*.html"):
        html = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template
        assert not re.search(r"\son[a-z]+\s*=", html), template
        assert not re.search(r"\sstyle\s*=", html), template
        assert not re.search(r"(src|href)=\"https?://", html), template


def test_htmx_swap_gets_fragment_and_navigation_gets_page(unlocked, client):
    swap = client.get("/organisations/?q=x", headers={"HX-Request": "true"})
    assert b"<html" not in swap.data
    assert "Keine Organisation passt".encode() in swap.data
    assert "HX-Request" in swap.headers["Vary"]
    boosted = client.get("/organisations/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert b"<html" in boosted.data
    restore = client.get("/organisations/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert b"<html" in restore.data


def test_locked_vault_sends_htmx_requests_to_unlock(unlocked, client, guard):
    client.post("/lock", data={"csrf_token": guard.csrf_token})
    response = client.get("/organisations/", headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/unlock"
    assert client.get("/organisations/").headers["Location"] == "/unlock"


DOMAIN_MODULES = ["vault", "db", "models", "demo", "organisations", "instance", "i18n", "local_settings",
                  "vocabulary", "config", "bundle", "merge", "maps", "map_export", "network", "interviews", "quotes",
                  "transcripts", "imports", "guide", "text", "untrusted", "record_check", "doctor", "release", "sync", "analysis", "qdpx", "map_layout",
                  "anonymise/registry", "anonymise/matching", "anonymise/patterns", "anonymise/candidates",
                  "anonymise/review", "anonymise/generalise"]


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_modules_import_no_flask(repo_root, module):
    tree = ast.parse((repo_root / "fieldkit" / f"{module}.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(name.startswith("flask") for name in imported)


def test_request_log_names_neither_the_launch_token_nor_search_terms(app, guard, caplog):
    server = LocalServer(app)
    server.start()
    token = server.launch_url.rsplit("/", 1)[1]
    try:
        with caplog.at_level(logging.INFO, logger="fieldkit.requests"):
            opener = build_opener(HTTPCookieProcessor(CookieJar()))
            opener.open(server.launch_url).read()
            opener.open(f"http://127.0.0.1:{server.port}/setup?q=Geheimverein").read()
    finally:
        server.shutdown()
    assert '"GET /launch/…" 302' in caplog.text and '"GET /setup" 200' in caplog.text
    assert token not in caplog.text and "Geheimverein" not in caplog.text



def test_uploads_beyond_the_free_slots_wait_and_then_get_a_plain_busy_page(tmp_path, coordinator, monkeypatch):
    """A slow upload holds the only slot; the next one waits, then hears "busy" instead of reading its
    body into memory next to the first; once the first is gone, uploads go through again."""
    import http.client
    import socket

    from fieldkit import create_app
    from fieldkit.app import UploadSlots

    from conftest import FAST_KDF, PASSPHRASE

    monkeypatch.setattr(UploadSlots, "WAIT_SECONDS", 0.5)
    app = create_app({"DATA_DIR": tmp_path, "UPLOAD_SLOTS": 1, **FAST_KDF})
    app.extensions["vault"].create(PASSPHRASE, [coordinator[1]])
    guard, server = app.extensions["launch_guard"], LocalServer(app)
    server.start()
    head = (f"POST /guides/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Cookie: {guard.cookie_name}={guard.secret}\r\nX-CSRF-Token: {guard.csrf_token}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n")

    def upload(complete: bool):
        connection = socket.create_connection(("127.0.0.1", server.port))
        connection.sendall(head.encode())
        if not complete:
            return connection
        connection.sendall(b"x" * (100000 - 5))
        connection.settimeout(10)
        # Read one response by its length: whether the server then closes or keeps the connection varies.
        response = http.client.HTTPResponse(connection)
        response.begin()
        answer = f"HTTP/1.1 {response.status}\r\n" + response.read().decode("utf-8", "replace")
        connection.close()
        return answer

    try:
        slow = upload(complete=False)
        time.sleep(0.3)
        busy = upload(complete=True)
        assert busy.startswith("HTTP/1.1 503") and "Andere Dateien werden noch importiert" in busy
        slow.close()
        time.sleep(0.3)
        assert not upload(complete=True).startswith("HTTP/1.1 503")
    finally:
        server.shutdown()
        app.extensions["vault"].lock()


def test_the_threat_model_names_only_tests_that_exist(repo_root):
    """docs/threat-model.md proves each control with a test: each named test must exist."""
    named = set(re.findall(r"(test_\w+)\.py::(test_\w+)", (repo_root / "docs" / "threat-model.md").read_text()))
    assert len(named) > 30
    for module, test in sorted(named):
        assert f"def {test}(" in (repo_root / "tests" / f"{module}.py").read_text(), f"{module}::{test}"


def test_pages_are_never_cached_but_static_files_are_kept_by_the_content_named_in_their_url(unlocked, client):
    """The editor's scripts and styles need not travel again on every page (the map's first paint waited
    for them); a changed file gets a new URL, and pages holding interview content stay uncached."""
    page = client.get("/settings/")
    assert page.headers["Cache-Control"] == "no-store"
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.get_data(as_text=True))
    assert urls and all(re.search(r"\?v=[0-9a-f]{12}$", url) for url in urls)
    kept = client.get(urls[0])
    assert kept.status_code == 200 and kept.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert client.get(urls[0].split("?")[0]).headers["Cache-Control"] == "no-store"  # unversioned: not kept
