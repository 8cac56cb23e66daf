"""The project server's API: laptops send anonymised releases; anyone may ask whether it is up.

POST /api/v1/releases with a device's bearer token stores a release document (fieldkit-release/1):
validated against its JSON Schema (400 naming the field), bounded in size (413), idempotent on release
id and SHA-256 (the same again: 200 and nothing stored twice; the same id with other content: 409).
"""
import json
from functools import lru_cache
from http import HTTPStatus

import orjson
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .. import release as release_format, untrusted
from . import SECURITY_HEADERS, admin
from .ingest import Busy
from .storage import now

bp = Blueprint("api", __name__, url_prefix="/api/v1")


RELEASES = "/api/v1/releases"
JSON = "application/json"
MAX_STRUCTURE = 1_000_000  # JSON objects and lists in one release: each costs ~100 bytes once parsed
TOO_LARGE = "the release is larger than this server accepts"


class Refused(Exception):
    """A request the API answers with an error status and a reason."""

    def __init__(self, status: int, error: str, field: str = ""):
        super().__init__(error)
        self.status, self.error, self.field = status, error, field


@bp.get("/health")
def health():
    with current_app.extensions["server_engine"].connect() as connection:
        connection.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


class ReleaseEndpoint:
    """POST /api/v1/releases as a plain WSGI handler in front of the Flask app, which answers every other
    path. It is the request every laptop's sync makes, and Flask's request machinery (context, routing,
    response object) cost as much CPU as checking and storing a release; here only the release's own
    work is done."""

    def __init__(self, app, flask_wsgi):
        self.app, self.flask_wsgi = app, flask_wsgi
        self.engine, self.ingest = app.extensions["server_engine"], app.extensions["server_ingest"]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != RELEASES:
            return self.flask_wsgi(environ, start_response)
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise Refused(405, "method not allowed")
            status, body = self.receive(environ)
        except Refused as refusal:
            status, body = refusal.status, {"error": refusal.error, **({"field": refusal.field} if refusal.field else {})}
        except Busy as busy:
            status, body = 503, {"error": str(busy)}
        except Exception:  # noqa: BLE001 (logged with its trace; the client gets a reason, never the trace)
            self.app.logger.exception("storing a release failed")
            status, body = 500, {"error": "the server could not finish this request"}
        return _answer(start_response, status, body, environ.get("REQUEST_METHOD") == "HEAD")

    def receive(self, environ) -> tuple[int, dict]:
        device_id = admin.device_for_token(self.engine, _bearer_token(environ))
        if device_id is None:
            raise Refused(401, "unknown or revoked device token")
        data = self._body(environ)
        document = _parse(environ, data)
        _validate(document)
        stored = self._store(device_id, document, data)
        return 201 if stored else 200, {"status": "stored" if stored else "duplicate",
                                        "release_id": document["release_id"], "sha256": document["sha256"]}

    def _body(self, environ) -> bytes:
        """The body, never beyond the limit: a Content-Length above it is answered before reading; a body
        without one (chunked, from a server that ends the stream itself) is read one byte past it."""
        limit, stream = self.app.config["MAX_CONTENT_LENGTH"], environ["wsgi.input"]
        try:
            length = int(environ["CONTENT_LENGTH"]) if environ.get("CONTENT_LENGTH") else None
        except ValueError:
            raise Refused(400, "bad request") from None
        if length is None:
            data = stream.read(limit + 1) if environ.get("wsgi.input_terminated") else b""
        elif length > limit:
            raise Refused(413, TOO_LARGE)
        else:
            data = stream.read(length) if length > 0 else b""
        if len(data) > limit:
            raise Refused(413, TOO_LARGE)
        return data

    def _store(self, device_id: str, document: dict, data: bytes) -> bool:
        """Store a release once: True if it is new, False if this exact release is there already."""
        # the document as validated (duplicate keys, spacing and escapes as orjson writes them), not as sent
        values = {"release_id": document["release_id"], "sha256": document["sha256"], "device_id": device_id,
                  "received_at": now(), "created": document["created"][:40], "size": len(data),
                  "counts": json.dumps(document["counts"]), "document": orjson.dumps(document).decode()}
        outcome = self.ingest.store(values)
        if outcome == "conflict":
            raise Refused(409, "a release with this id but other content was stored already", "/release_id")
        return outcome == "stored"


def _answer(start_response, status: int, body: dict, head_only: bool = False):
    payload = json.dumps(body).encode()
    headers = [("Content-Type", JSON), ("Content-Length", str(len(payload))), *SECURITY_HEADERS]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="fieldkit"'))
    elif status == 405:
        headers.append(("Allow", "POST"))
    elif status == 503:
        headers.append(("Retry-After", "30"))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [] if head_only else [payload]  # a HEAD answer carries no body, or keep-alive framing breaks


def _bearer_token(environ) -> str:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _parse(environ, data: bytes) -> dict:
    """JSON in UTF-8 (no byte order mark, no lone surrogates, no NaN), its structure bounded before parsing."""
    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != JSON:
        raise Refused(415, "send the release as application/json")
    if data.count(b"{") + data.count(b"[") > MAX_STRUCTURE:  # brackets in strings count too: on the safe side
        raise Refused(413, "the release holds more JSON objects and lists than this server reads at once")
    if untrusted.depth(data) > untrusted.MAX_DEPTH:
        raise Refused(400, "not valid JSON: nested too deeply")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise Refused(400, f"not valid JSON in UTF-8: {str(error)[:200]}") from None
    if not isinstance(document, dict):
        raise Refused(400, "the release must be a JSON object")
    return document


@lru_cache(maxsize=1)
def _validator():
    import fastjsonschema  # the schema compiled to Python once: a release is checked in microseconds

    # on a copy: compiling rewrites the schema's references in place, and the OpenAPI document reads it too
    return fastjsonschema.compile(json.loads(json.dumps(release_format.schema())))


def _validate(document: dict) -> None:
    import fastjsonschema

    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        field = "/" + "/".join(map(str, error.path[1:]))  # the path starts at "data", the document itself
        message = error.message.removeprefix(error.name).strip() if error.name else error.message
        raise Refused(400, f"{field}: {message[:200]}", field) from error
    if release_format.content_sha256(document["records"]) != document["sha256"]:
        raise Refused(400, "/sha256: does not match the records", "/sha256")
    if document["counts"] != {kind: len(rows) for kind, rows in document["records"].items()}:
        raise Refused(400, "/counts: does not match the records", "/counts")


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    """The API described for clients and for schemathesis."""
    schema = json.loads(json.dumps(release_format.schema()))
    definitions = schema.pop("$defs")
    schema.pop("$schema", None)
    schema.pop("$id", None)
    text_schema = json.dumps(schema).replace("#/$defs/", "#/components/schemas/")
    error = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "field": {"type": "string"}}}
    answer = {"type": "object", "required": ["status", "release_id", "sha256"], "properties": {
        "status": {"enum": ["stored", "duplicate"]}, "release_id": {"type": "string"}, "sha256": {"type": "string"}}}

    def responds(description: str, body: dict) -> dict:
        return {"description": description, "content": {"application/json": {"schema": body}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "fieldkit project server", "version": "1",
                 "description": "Anonymised releases from fieldkit laptops (format fieldkit-release/1)."},
        "components": {
            "securitySchemes": {"device": {"type": "http", "scheme": "bearer"}},
            "schemas": {**json.loads(json.dumps(definitions).replace("#/$defs/", "#/components/schemas/")),
                        "Release": json.loads(text_schema), "Error": error, "Stored": answer},
        },
        "paths": {
            "/api/v1/health": {"get": {"operationId": "health", "responses": {"200": responds(
                "The server and its database answer.", {"type": "object", "required": ["status"],
                                                        "properties": {"status": {"const": "ok"}}})}}},
            "/api/v1/releases": {"post": {
                "operationId": "receiveRelease", "security": [{"device": []}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Release"}}}},
                "responses": {
                    "201": responds("Stored.", {"$ref": "#/components/schemas/Stored"}),
                    "200": responds("This release was stored already; nothing changed.", {"$ref": "#/components/schemas/Stored"}),
                    "400": responds("Not a valid release; `field` names what failed.", {"$ref": "#/components/schemas/Error"}),
                    "401": responds("Unknown or revoked device token.", {"$ref": "#/components/schemas/Error"}),
                    "409": responds("Another release with this id was stored already.", {"$ref": "#/components/schemas/Error"}),
                    "405": responds("Only POST stores a release.", {"$ref": "#/components/schemas/Error"}),
                    "413": responds("The release is larger than the server accepts.", {"$ref": "#/components/schemas/Error"}),
                    "415": responds("Not sent as JSON.", {"$ref": "#/components/schemas/Error"}),
                    "503": responds("The database is busy or did not answer in time: send again later (Retry-After).",
                                    {"$ref": "#/components/schemas/Error"}),
                }}},
        },
    }
