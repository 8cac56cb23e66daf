"""The organisations the project works with, and what was gathered about each."""
from flask import Blueprint, abort, render_template, request

from ..organisations import list_organisations, organisation_detail
from . import db_session, render_view

bp = Blueprint("organisations", __name__, url_prefix="/organisations")


@bp.route("/")
def index():
    query = request.args.get("q", "")
    return render_view("organisations/index.html", "organisations/_list.html",
                       organisations=list_organisations(db_session(), query), query=query)


@bp.route("/<organisation_id>")
def detail(organisation_id: str):
    found = organisation_detail(db_session(), organisation_id)
    if found is None:
        abort(404)
    return render_template("organisations/detail.html", detail=found)
