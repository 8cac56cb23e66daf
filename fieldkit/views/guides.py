"""Guides and codebook: what the coordination prepares for all interviews."""
from flask import Blueprint, render_template, request
from flask_babel import gettext

from ..errors import UserError
from ..guide import MAX_GUIDE_BYTES, GuideError, decode, list_guides, parse_guide, register_guide
from ..quotes import add_code, codebook
from . import current_vault, db_session, message, writing

bp = Blueprint("guides", __name__, url_prefix="/guides")


@bp.route("/", methods=["GET", "POST"])
def index():
    """Loaded guide versions; POST loads another guide file."""
    error, notice = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            source = decode(upload.read(MAX_GUIDE_BYTES + 1)) if upload and upload.filename else ""
            parsed = parse_guide(source)  # before the write lock
            with writing() as session:
                record = register_guide(session, source, current_vault().device_id, parsed)
            notice = gettext("Guide “%(title)s”, version %(version)s, is loaded.", title=record.title,
                             version=record.guide_version)
        except GuideError as failure:
            error = (gettext("Line %(line)d: %(problem)s", line=failure.line, problem=message(failure))
                     if failure.line else message(failure))
        except UserError as failure:  # the same version loaded before with other content
            error = message(failure)
    return _page(error=error, notice=notice)


@bp.post("/codes")
def add():
    """Extend the codebook."""
    form = request.form
    try:
        with writing() as session:
            add_code(session, current_vault().device_id, form.get("label", ""), form.get("description", ""),
                     form.get("colour", ""), form.get("parent") or None)
    except UserError as failure:
        return _page(code_error=message(failure))
    return _page(notice=gettext("The code was added to the codebook."))


def _page(error=None, notice=None, code_error=None):
    from ..guide_editor import drafts
    from ..models import GuideVersion

    session = db_session()
    status = 400 if error or code_error else 200
    published = session.get(GuideVersion, request.args.get("published", ""))
    if published and not notice:
        notice = gettext("Version %(version)s of “%(title)s” is published: new interviews can be planned with it.",
                         version=published.guide_version, title=published.title)
    return render_template("guides/index.html", guides=list_guides(session), drafts=drafts(session),
                           codes=codebook(session), error=error, code_error=code_error, notice=notice), status
