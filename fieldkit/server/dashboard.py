"""The coordinators' dashboard: log in with the administrator password, see the releases per device and
date and what each holds, log out. Sessions are signed cookies; every form carries a CSRF token; after
five failed logins from one address within 15 minutes, further attempts wait."""
import hmac
import json
import secrets
from datetime import timedelta
from functools import wraps

from flask import (Blueprint, abort, current_app, redirect, render_template, request, session, url_for)
from flask_babel import gettext
from sqlalchemy import delete, func, select

from . import admin, storage
from .storage import devices, login_failures, now, releases

bp = Blueprint("dashboard", __name__)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5


def engine():
    return current_app.extensions["server_engine"]


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@bp.before_app_request
def _check_csrf():
    if request.method == "POST" and request.blueprint == "dashboard":
        sent = request.form.get("csrf_token", "")
        if not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()):
            abort(400, "csrf")


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not session.get("admin"):
            return redirect(url_for(".login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        remote = request.remote_addr or "-"
        if _recent_failures(remote) >= MAX_FAILURES:
            error, status = gettext("Too many failed attempts. Wait 15 minutes, then try again."), 429
        elif admin.check_password(engine(), request.form.get("password", "")):
            _forget_failures(remote)
            session.clear()
            session["admin"] = True
            session.permanent = True
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for(".index"))
        else:
            _note_failure(remote)
            error, status = gettext("Wrong password."), 401
    return render_template("server/login.html", error=error), status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for(".login"))


@bp.route("/")
@login_required
def index():
    day = func.date(releases.c.received_at)
    statement = (select(devices.c.name, day.label("day"), func.count().label("releases"))
                 .select_from(releases.join(devices, devices.c.id == releases.c.device_id))
                 .group_by(devices.c.name, day).order_by(day.desc(), devices.c.name))
    recent = (select(releases.c.release_id, releases.c.sha256, releases.c.received_at, releases.c.created,
                     releases.c.counts, releases.c.size, devices.c.name.label("device"))
              .select_from(releases.join(devices, devices.c.id == releases.c.device_id))
              .order_by(releases.c.received_at.desc()).limit(200))
    with engine().connect() as connection:
        per_day = [dict(row._mapping) for row in connection.execute(statement)]
        latest = [dict(row._mapping) | {"counts": json.loads(row.counts)} for row in connection.execute(recent)]
        total = connection.execute(select(func.count()).select_from(releases)).scalar()
    return render_template("server/index.html", per_day=per_day, releases=latest, total=total,
                           devices=admin.list_devices(engine()))


@bp.route("/analysis")
@login_required
def analysis_page():
    """The study's analyses over every release received (each map once, in its newest release)."""
    from .. import analysis

    data = analysis.from_releases(_documents())
    tables = {key: make() for key, make in analysis.network_tables(data, _locale()).items()}
    return render_template("server/analysis.html", data=data, study=tables["actor_types"], ties_ego=tables["ties_ego"],
                           ties_among=tables["ties_among"], ego_networks=tables["ego_networks"])


@bp.route("/analysis/<key>.<fmt>")
@login_required
def analysis_file(key: str, fmt: str):
    """A table of the server's analyses as CSV or XLSX, or its chart as SVG or PNG."""
    from .. import analysis

    tables = analysis.network_tables(analysis.from_releases(_documents()), _locale())
    mimetype = {**analysis.TABLE_FILES, **analysis.CHART_FILES}.get(fmt)
    body = analysis.file_of(tables[key](), fmt, _locale()) if key in tables and mimetype else None
    if body is None:
        abort(404)
    response = current_app.response_class(body, mimetype=mimetype)
    if not request.args.get("inline"):
        response.headers["Content-Disposition"] = f'attachment; filename="fieldkit-server_{key}.{fmt}"'
    return response


def _documents() -> list[dict]:
    with engine().connect() as connection:
        return [json.loads(document) for (document,) in connection.execute(select(releases.c.document))]


def _locale() -> str:
    return request.accept_languages.best_match(["de", "en"]) or "de"


@bp.route("/releases/<release_id>")
@login_required
def release_detail(release_id: str):
    with engine().connect() as connection:
        row = connection.execute(select(releases, devices.c.name.label("device")).select_from(
            releases.join(devices, devices.c.id == releases.c.device_id)).where(releases.c.release_id == release_id)).first()
    if row is None:
        abort(404)
    document = json.loads(row.document)
    return render_template("server/release.html", row=row, document=document, records=document["records"])


def _recent_failures(remote: str) -> int:
    with engine().connect() as connection:
        return connection.execute(select(func.count()).select_from(login_failures).where(
            login_failures.c.remote == remote, login_failures.c.at > now() - FAILURE_WINDOW)).scalar()


def _note_failure(remote: str) -> None:
    with storage.writing(engine()) as connection:
        connection.execute(login_failures.insert().values(remote=remote, at=now()))
        connection.execute(delete(login_failures).where(login_failures.c.at < now() - FAILURE_WINDOW))


def _forget_failures(remote: str) -> None:
    with storage.writing(engine()) as connection:
        connection.execute(delete(login_failures).where(login_failures.c.remote == remote))
