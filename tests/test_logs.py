"""The log file in the data directory: what happened, never what was typed; an unexpected error
shows a page with an error number, and the log holds the place it failed under that number."""
import re

from conftest import PORT, LocalClient, PASSPHRASE

from fieldkit import create_app, db
from fieldkit.vault import new_project_identity

SECRETS = ("Verein Sonnenblume", "Kennwort Mondschein", "Suchwort Regenbogen")


def opened(tmp_path, extra_route=None):
    app = create_app({"DATA_DIR": tmp_path / "data", "SERVER_PORT": PORT, "ARGON2_MEMORY_KIB": 8192, "ARGON2_ITERATIONS": 1})
    if extra_route:
        app.add_url_rule("/boom", "boom", extra_route)
    app.test_client_class = LocalClient
    client = app.test_client()
    guard = app.extensions["launch_guard"]
    client.get(guard.launch_url().removeprefix(f"http://127.0.0.1:{PORT}"))
    client.post("/setup", data={"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE, "confirmation": PASSPHRASE,
                                "recipient": new_project_identity()[1]})
    return app, client, guard.csrf_token


def test_the_log_holds_requests_but_no_names_notes_or_search_terms(served):
    """Over real HTTP, as the window talks to the app: set up, plan, type a note, search, look around."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    from fieldkit import interviews
    from fieldkit.guide import latest_guide
    from fieldkit.models import Organisation, save

    app = served.app
    guard = app.extensions["launch_guard"]
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = served.launch_url.split("/launch")[0]
    browser.open(served.launch_url)

    def post(path, fields, headers=None):
        request = urllib.request.Request(base + path, urllib.parse.urlencode(fields).encode(), headers or {})
        return browser.open(request)

    post("/setup", {"csrf_token": guard.csrf_token, "passphrase": PASSPHRASE, "confirmation": PASSPHRASE,
                    "recipient": new_project_identity()[1]})
    vault = app.extensions["vault"]
    with db.writing(vault.engine) as session:
        organisation = save(session, vault.device_id, Organisation(name=SECRETS[0]))
        interview = interviews.new(session, vault.device_id, organisation, latest_guide(session, "mikoss"), "Ayla")
        interviews.record_consent(session, vault.device_id, interview, "Vorsitz", "written", "2026-11-26", {"network_map"})
    post(f"/interviews/{interview.id}/answers/organisation.history", {"text": SECRETS[1]},
         {"X-CSRF-Token": guard.csrf_token, "HX-Request": "true"})
    browser.open(base + "/interviews/?" + urllib.parse.urlencode({"q": SECRETS[2]}))
    browser.open(base + f"/organisations/{organisation.id}")
    log = app.extensions["log_file"].read_text(encoding="utf-8")
    assert f"/interviews/{interview.id}/answers/organisation.history" in log  # what happened is there
    for secret in SECRETS:
        assert secret not in log and secret.split()[-1] not in log


def test_an_unexpected_error_shows_its_number_and_the_log_keeps_where_it_failed(tmp_path):
    def boom():
        raise ValueError(f"the note said {SECRETS[1]}")

    app, client, _ = opened(tmp_path, boom)
    page = client.get("/boom")
    assert page.status_code == 500
    text = page.data.decode()
    number = re.search(r"<code>([0-9A-F]{6})</code>", text).group(1)
    assert "Traceback" not in text and SECRETS[1] not in text
    log = (tmp_path / "data" / "logs" / "fieldkit.log").read_text(encoding="utf-8")
    assert f"error {number} on GET /boom: ValueError" in log and "in boom" in log
    assert SECRETS[1] not in log
    app.extensions["vault"].lock()


def test_about_lists_components_with_their_licences(client, unlocked):
    page = client.get("/settings/about").data.decode()
    for component in ("Flask", "SQLAlchemy", "htmx", "resvg_py"):
        assert component in page
    assert "fieldkit.log" in page
    licence = client.get("/settings/about/licence/Flask")
    assert licence.status_code == 200 and "Redistribution" in licence.data.decode()
    assert client.get("/settings/about/licence/htmx").status_code == 200
    assert client.get("/settings/about/licence/nothing-such").status_code == 404
