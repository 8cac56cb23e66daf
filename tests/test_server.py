"""The project server as a real process on loopback, on SQLite and on the real PostgreSQL at
127.0.0.1:5432, and the laptop's sync queue sending to it."""
import concurrent.futures
import datetime as dt
import http.client
import io
import json
import socket
import os
import random
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlmodel import Session

from fieldkit import db, release, sync
from fieldkit.anonymise import review
from fieldkit.demo import create_demo_data
from fieldkit.server import admin, storage

from conftest import FAST_KDF_ENV, free_port

ADMIN_PASSWORD = "Projektserver im Lindenviertel"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory):
    """A fresh database of each kind: an SQLite file, or a new PostgreSQL database (dropped afterwards).
    A missing PostgreSQL fails the tests: .ci/run makes sure it runs."""
    if request.param == "sqlite":
        yield {"url": "", "data_dir": tmp_path_factory.mktemp("server")}
        return
    name = f"fieldkit_test_{uuid.uuid4().hex[:12]}"
    postgres = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with postgres.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield {"url": f"{POSTGRES}/{name}", "data_dir": tmp_path_factory.mktemp("server")}
    with postgres.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    postgres.dispose()


def server_env(database, **extra) -> dict:
    env = {**os.environ, **FAST_KDF_ENV, "FIELDKIT_ADMIN_PASSWORD": ADMIN_PASSWORD, **extra}
    if database["url"]:
        env["FIELDKIT_SERVER_DATABASE_URL"] = database["url"]
    return env


def fieldkit(database, *args, **extra):
    return subprocess.run([sys.executable, "-m", "fieldkit", "--data-dir", str(database["data_dir"]), *args],
                          env=server_env(database, **extra), capture_output=True, text=True, timeout=120)


class Server:
    """`fieldkit server run` in a process of its own."""

    def __init__(self, database, port: int, **extra):
        self.database, self.port, self.extra = database, port, extra
        self.process = None

    def start(self) -> "Server":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fieldkit", "--data-dir", str(self.database["data_dir"]), "server", "run",
             "--port", str(self.port)], env=server_env(self.database, **self.extra),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read()
            if self.request("GET", "/api/v1/health")[0] == 200:
                return self
            time.sleep(0.2)
        raise AssertionError("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes = b"", token: str = "", content_type="application/json"):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            return response.status, json.loads(data) if data[:1] in (b"{", b"[") else data
        except OSError:
            return 0, None


@pytest.fixture(scope="module")
def server(database):
    assert fieldkit(database, "server", "init").returncode == 0
    added = fieldkit(database, "server", "device", "add", "Laptop Ayla", "--json")
    assert added.returncode == 0, added.stderr
    running = Server(database, free_port(), FIELDKIT_SERVER_MAX_RELEASE_MB="1").start()
    running.token = json.loads(added.stdout)["token"]
    yield running
    running.stop()


def stored(database) -> int:
    engine = storage.engine_for(storage.database_url(database["data_dir"]) if not database["url"]
                                else "postgresql+psycopg://" + database["url"].split("://", 1)[1])
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(storage.releases)).scalar()
    engine.dispose()
    return count


def document(records: dict = None, release_id: str = None) -> bytes:
    """A small valid release document."""
    records = records or {kind: [] for kind in release.KINDS}
    body = {"format": release.FORMAT, "release_id": release_id or str(uuid.uuid4()),
            "created": "2026-12-01T10:00:00+00:00", "app_version": "test", "sha256": release.content_sha256(records),
            "records": records, "counts": {kind: len(rows) for kind, rows in records.items()}}
    return json.dumps(body).encode()


def coded(label: str) -> dict:
    records = {kind: [] for kind in release.KINDS}
    records["codes"] = [{"id": str(uuid.uuid4()), "label": label, "description": "", "colour": "#123456", "parent_id": None}]
    return records


def test_a_release_is_stored_once_and_the_same_id_with_other_content_is_refused(server, database):
    before = stored(database)
    release_id = str(uuid.uuid4())
    body = document(coded("Kooperation"), release_id)
    assert server.request("POST", "/api/v1/releases", body, server.token)[0] == 201
    status, answer = server.request("POST", "/api/v1/releases", body, server.token)
    assert status == 200 and answer["status"] == "duplicate"
    status, answer = server.request("POST", "/api/v1/releases", document(coded("Konflikt"), release_id), server.token)
    assert status == 409 and answer["field"] == "/release_id"
    assert stored(database) == before + 1


@pytest.mark.parametrize("body, status, field", [
    (b"{kaputt", 400, None),
    (b"[]", 400, None),
    (json.dumps({"format": "fieldkit-release/1"}).encode(), 400, "/"),
    (b"[" * 5000 + b"]" * 5000, 400, None),
])
def test_malformed_releases_are_refused_naming_what_failed(server, body, status, field):
    answer = server.request("POST", "/api/v1/releases", body, server.token)
    assert answer[0] == status and "error" in answer[1]
    if field:
        assert answer[1]["field"] == field


def test_a_release_whose_hash_does_not_match_its_records_is_refused(server):
    body = json.loads(document(coded("Kooperation")))
    body["records"]["codes"][0]["label"] = "Konkurrenz"
    status, answer = server.request("POST", "/api/v1/releases", json.dumps(body).encode(), server.token)
    assert status == 400 and answer["field"] == "/sha256"


def test_a_field_of_the_wrong_type_is_named(server):
    body = json.loads(document(coded("Kooperation")))
    body["records"]["codes"][0]["colour"] = 7
    body["sha256"] = release.content_sha256(body["records"])
    status, answer = server.request("POST", "/api/v1/releases", json.dumps(body).encode(), server.token)
    assert status == 400 and answer["field"] == "/records/codes/0/colour"


def test_oversize_unknown_and_revoked_tokens(server, database):
    assert oversize_status(server) == 413
    assert server.request("POST", "/api/v1/releases", document(), "fkd_unknown")[0] == 401
    assert server.request("POST", "/api/v1/releases", document(), "")[0] == 401
    added = json.loads(fieldkit(database, "server", "device", "add", "Laptop Kemal", "--json").stdout)
    assert server.request("POST", "/api/v1/releases", document(), added["token"])[0] == 201
    assert fieldkit(database, "server", "device", "revoke", "Laptop Kemal").returncode == 0
    time.sleep(admin.KNOWN_FOR)  # a running server looks a token up again after at most this long
    assert server.request("POST", "/api/v1/releases", document(), added["token"])[0] == 401
    listed = json.loads(fieldkit(database, "server", "device", "list", "--json").stdout)
    assert {(d["name"], d["revoked"]) for d in listed} >= {("Laptop Ayla", False), ("Laptop Kemal", True)}


def oversize_status(server) -> int:
    """The answer to a body announced as 2 MB: given before the body is read (a client sending it whole
    would race the server closing the connection)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(f"POST /api/v1/releases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           f"Authorization: Bearer {server.token}\r\nContent-Length: {2 * 2**20}\r\n\r\n{{".encode())
        return int(connection.recv(200).split()[1])


def test_a_thousand_releases_from_ten_clients_are_stored_exactly_once(server, database):
    before = stored(database)
    bodies = [document(coded(f"Code {number}")) for number in range(1000)]
    # every client also sends some of the others' releases again: each must be stored once
    batches = [bodies[number::10] + random.Random(number).sample(bodies, 20) for number in range(10)]

    def send(batch):
        return [server.request("POST", "/api/v1/releases", body, server.token)[0] for body in batch]

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = [status for statuses in pool.map(send, batches) for status in statuses]
    assert set(answers) <= {200, 201} and answers.count(201) == 1000
    assert stored(database) == before + 1000


@pytest.fixture
def laptop(tmp_path, coordinator):
    """A laptop vault whose steward approved everything and wrote two releases."""
    from fieldkit.vault import Vault

    from conftest import PASSPHRASE

    vault = Vault(tmp_path / "laptop", memory_kib=8192, iterations=1)
    vault.create(PASSPHRASE, [coordinator[1]])
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
        review.approve_all(session, vault.device_id, "Steward")
    for folder in ("first", "second"):
        release.make_release(vault.engine, vault.device_id, tmp_path / folder, "Steward")
    yield vault
    vault.lock()


def test_the_queue_drains_and_a_refusal_says_why(server, laptop, database):
    with db.writing(laptop.engine) as session:
        sync.configure(session, laptop.device_id, server.url, server.token)
        assert [job.status for job in sync.jobs(session)] == ["pending", "pending"]
    before = stored(database)
    assert sync.run(laptop.engine) == {"sent": 2, "refused": 0, "retry": 0}
    assert stored(database) == before + 2
    with Session(laptop.engine) as session:
        assert {job.status for job in sync.jobs(session)} == {"sent"} and sync.last_success(session)
        assert sync.run(laptop.engine) == {"sent": 0, "refused": 0, "retry": 0}  # nothing due
    with db.writing(laptop.engine) as session:  # a device whose token was revoked: refused for good, with the reason
        sync.configure(session, laptop.device_id, server.url, "fkd_revoked_or_wrong")
        job = sync.jobs(session)[0]
        job.status = "pending"
        session.add(job)
    assert sync.run(laptop.engine)["refused"] == 1
    with Session(laptop.engine) as session:
        refused = next(job for job in sync.jobs(session) if job.status == "refused")
        assert "revoked" in refused.last_error


def test_server_down_then_retries_with_back_off_then_up_drains(database, laptop, server):
    port = free_port()
    with db.writing(laptop.engine) as session:
        sync.configure(session, laptop.device_id, f"http://127.0.0.1:{port}", server.token)
    start = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
    assert sync.run(laptop.engine, now=start) == {"sent": 0, "refused": 0, "retry": 2}
    with Session(laptop.engine) as session:
        jobs = sync.jobs(session)
        assert {job.status for job in jobs} == {"pending"} and {job.attempts for job in jobs} == {1}
        assert all("not reachable" in job.last_error for job in jobs)
        waits = [(sync._aware(job.next_attempt_at) - start).total_seconds() for job in jobs]
        assert all(15 <= wait <= 45 for wait in waits)  # 30 s ± 50 % jitter
        assert sync.due(session, start) == []  # too early to try again
    assert sync.run(laptop.engine, now=start + dt.timedelta(minutes=1))["retry"] == 2
    with Session(laptop.engine) as session:
        assert all(30 <= (sync._aware(j.next_attempt_at) - start).total_seconds() - 60 <= 90 for j in sync.jobs(session))  # 60 s ± 50 %
    second = Server(database, port).start()  # the server comes back (the same database)
    try:
        assert sync.run(laptop.engine, now=start + dt.timedelta(minutes=5)) == {"sent": 2, "refused": 0, "retry": 0}
    finally:
        second.stop()


def test_a_database_without_its_driver_is_refused_with_what_to_do():
    """The desktop folder carries no PostgreSQL driver: a server started from it says so (a driver that
    is absent here stands for it)."""
    from fieldkit.errors import UserError

    with pytest.raises(UserError, match="no driver for this database here .MySQLdb.*pip installation"):
        storage.engine_for("mysql://server/fieldkit")


def test_backoff_doubles_up_to_an_hour_with_jitter():
    rng = random.Random(1)
    waits = [sync.backoff(attempt, rng) for attempt in range(1, 12)]
    assert 15 <= waits[0] <= 45 and 30 <= waits[1] <= 90 and all(wait <= 5400 for wait in waits)
    assert sync.backoff(20, random.Random(2)) >= 1800


@pytest.mark.parametrize("url, problem", [
    ("http://fieldkit.example.org", "nur für diesen Computer selbst"),
    ("ftp://fieldkit.example.org", "https://"),
])
def test_plain_http_only_to_loopback(vault, url, problem):
    from fieldkit.i18n import translate

    with db.writing(vault.engine) as session, pytest.raises(sync.SyncError) as refused:
        sync.configure(session, vault.device_id, url, "fkd_x")
    assert problem in translate(refused.value.message, "de")


def test_the_openapi_document_describes_the_api(server):
    status, described = server.request("GET", "/api/v1/openapi.json")
    assert status == 200 and described["openapi"].startswith("3.1")
    assert set(described["paths"]) == {"/api/v1/health", "/api/v1/releases"}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    """The server app in this process on a fresh SQLite file, with one device, for schemathesis."""
    from fieldkit.server import admin, create_server_app

    app = create_server_app({"DATA_DIR": tmp_path_factory.mktemp("schemathesis"), "MAX_RELEASE_MB": 1})
    admin.init(app.extensions["server_engine"], ADMIN_PASSWORD)
    app.device_token = admin.add_device(app.extensions["server_engine"], "Schemathesis")[1]
    return app


def test_the_release_endpoint_answers_every_request_in_json_with_the_servers_headers(api_app, caplog):
    client = api_app.test_client()
    authorised = {"Authorization": f"Bearer {api_app.device_token}"}
    answer = client.get("/api/v1/releases", headers=authorised)
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST" and "error" in answer.json
    answer = client.post("/api/v1/releases", data=document(), headers=authorised | {"Content-Type": "text/plain"})
    assert answer.status_code == 415 and answer.json["error"] == "send the release as application/json"
    assert answer.headers["X-Content-Type-Options"] == "nosniff" and answer.headers["Cache-Control"] == "no-store"
    assert "default-src" in answer.headers["Content-Security-Policy"]
    answer = client.post("/api/v1/releases", data=document(), content_type="application/json")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")

    # the database fails: the laptop hears the server could not finish, the log gets the trace
    with api_app.extensions["server_engine"].begin() as connection:
        connection.execute(text("ALTER TABLE release RENAME TO release_away"))
    try:
        answer = client.post("/api/v1/releases", data=document(), headers=authorised, content_type="application/json")
    finally:
        with api_app.extensions["server_engine"].begin() as connection:
            connection.execute(text("ALTER TABLE release_away RENAME TO release"))
    assert answer.status_code == 500 and answer.json == {"error": "the server could not finish this request"}
    assert "no such table" in caplog.text
    answer = client.post("/api/v1/releases", data=document(), headers=authorised, content_type="application/json")
    assert answer.status_code == 201  # the writer started again on a fresh connection


def test_only_utf8_json_is_read_and_what_is_stored_is_what_was_checked(api_app, monkeypatch):
    from fieldkit.server import ingest

    client, engine = api_app.test_client(), api_app.extensions["server_engine"]
    authorised = {"Authorization": f"Bearer {api_app.device_token}"}

    def send(body: bytes, **environ):
        return client.post("/api/v1/releases", data=body, headers=authorised, content_type="application/json",
                           environ_overrides=environ)

    valid = document(coded("Kooperation"))
    for encoded in (valid.decode().encode("utf-16"), valid.decode().encode("utf-32-le"), b"\xef\xbb\xbf" + valid):
        answer = send(encoded)
        assert answer.status_code == 400 and "UTF-8" in answer.json["error"]
    surrogate = json.loads(document(coded("Kooperation")))
    surrogate["records"]["codes"][0]["label"] = "\ud800"
    assert send(json.dumps(surrogate).encode()).status_code == 400
    miscounted = json.loads(valid)
    miscounted["counts"]["codes"] = 99
    assert send(json.dumps(miscounted).encode()).json["field"] == "/counts"
    assert send(b"[" * 70 + b"]" * 70).status_code == 400
    assert send(b"[{}," * 400_000 + b"{}" + b"]" * 400_000).status_code == 413  # objects beyond the budget

    # a key sent twice: the value checked is the value stored
    twice = json.loads(document(coded("Kooperation")))
    text_sent = json.dumps(twice)[:-1] + ', "app_version": "1.0"}'
    assert send(text_sent.encode()).status_code == 201
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT document FROM release WHERE release_id = :id"),
                                    {"id": twice["release_id"]}).scalar()
    assert json.loads(stored)["app_version"] == "1.0" and stored.count("app_version") == 1

    # a body without Content-Length, from a server that ends the stream itself (gunicorn, chunked)
    body = document(coded("Spende"))
    answer = send(body, CONTENT_LENGTH="", **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    assert answer.status_code == 201
    oversize = body + b" " * 2**20
    answer = send(oversize, CONTENT_LENGTH="", **{"wsgi.input": io.BytesIO(oversize), "wsgi.input_terminated": True})
    assert answer.status_code == 413

    assert client.head("/api/v1/releases", headers=authorised).data == b""
    monkeypatch.setattr(ingest, "MAX_WAITING", 0)  # as when a stalled database holds 256 releases already
    answer = send(document(coded("Miete")))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_the_api_keeps_to_its_openapi_document(api_app, mode):
    """Requests generated from the OpenAPI document, valid and invalid: never a server error, always a
    documented status, content type and body."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                     status_code_conformance)

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    described = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)
    for result in described.get_all_operations():
        operation = result.ok()
        if mode == "negative" and operation.method.upper() == "GET":
            continue  # the health check takes no input that could be invalid

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {api_app.device_token}"}
            case.validate_response(case.call(app=api_app), checks=checks)

        check()


def test_the_running_app_sends_by_itself(server, tmp_path, coordinator):
    from fieldkit import create_app

    from conftest import FAST_KDF, PASSPHRASE

    app = create_app({"DATA_DIR": tmp_path / "app", "SYNC_INTERVAL": 0.2, **FAST_KDF})
    vault = app.extensions["vault"]
    vault.create(PASSPHRASE, [coordinator[1]])
    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
        review.approve_all(session, vault.device_id, "Steward")
        sync.configure(session, vault.device_id, server.url, server.token)
    release.make_release(vault.engine, vault.device_id, tmp_path / "releases", "Steward")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with Session(vault.engine) as session:
            if [job.status for job in sync.jobs(session)] == ["sent"]:
                break
        time.sleep(0.2)
    with Session(vault.engine) as session:
        assert [job.status for job in sync.jobs(session)] == ["sent"]
    vault.lock()
