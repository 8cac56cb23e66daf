"""Leitfäden bearbeiten: drafts of guides, edited field by field (saved as typed), item by item (add,
remove, move, answer type, condition), previewed as the interviewer sees them, published as versions."""
import copy

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext

from .. import guide_editor
from ..guide import ANSWER_TYPES
from ..i18n import N_
from ..models import GuideDraft, GuideVersion
from . import current_vault, db_session, message, writing

bp = Blueprint("guide_editor", __name__, url_prefix="/guides/drafts")

TYPE_LABELS = {"text": N_("Notes only"), "scale": N_("Scale"), "single": N_("Single choice"),
               "multiple": N_("Multiple choice"), "number": N_("Number"), "date": N_("Date"), "list": N_("List of items")}


@bp.post("/")
def new():
    """A new guide, or the next version of a published one (guide = "<id>@<version>")."""
    chosen = request.form.get("guide", "")
    guide_id, _, version = chosen.partition("@")
    try:
        with writing() as session:
            draft = guide_editor.new_draft(session, guide_id or None, version or None)
    except guide_editor.EditorError as failure:
        abort(400, message(failure))
    return redirect(url_for(".edit", draft_id=draft.id))


@bp.route("/<draft_id>")
def edit(draft_id: str, error=None, status=200):
    draft = _draft(draft_id)
    problem = error or _first_problem(draft.model)
    return render_template("guides/editor.html", draft=draft, model=draft.model, types=ANSWER_TYPES,
                           type_names={kind: gettext(label) for kind, label in TYPE_LABELS.items()},
                           missing=set(guide_editor.missing_translations(draft.model)),
                           questions=_question_keys(draft.model), problem=problem), status


@bp.post("/<draft_id>/field")
def field(draft_id: str):
    """One field, saved as it is typed; the answer says saved, or what is wrong with the guide now."""
    path = request.form.get("path", "")
    with writing() as session:
        draft = _draft(draft_id, session)
        model = copy.deepcopy(draft.model)
        try:
            guide_editor.set_field(model, path, request.form.get("value", ""))
        except guide_editor.EditorError as failure:
            return render_template("guides/_field_status.html", failed=message(failure)), 409
        guide_editor.save_draft(session, draft, model)
    return render_template("guides/_field_status.html", problem=_first_problem(model),
                           missing_count=len(guide_editor.missing_translations(model)))


@bp.post("/<draft_id>/change")
def change(draft_id: str):
    """A change of structure: add, remove or move an item; a question's answer type or condition."""
    form, anchor = request.form, ""
    with writing() as session:
        draft = _draft(draft_id, session)
        model = copy.deepcopy(draft.model)
        try:
            # The item buttons send "action|path|place" in op; the type and condition forms their own fields.
            action, path, place = (form["op"].split("|") + ["", ""])[:3] if "op" in form else (form.get("action", ""), form.get("path", ""), form.get("to"))
            if action == "add":
                anchor = guide_editor.add_item(model, path)
            elif action == "remove":
                guide_editor.remove_item(model, path)
            elif action == "move":
                guide_editor.move_item(model, path, _int(place))
                anchor = f"{path.rpartition('.')[0]}.{_int(place)}"
            elif action == "type":
                guide_editor.set_type(model, path, form.get("type", ""))
                anchor = path
            elif action == "condition":
                guide_editor.set_condition(model, path, form.get("question", ""), form.get("equals", ""))
                anchor = path
            else:
                abort(400)
        except guide_editor.EditorError as failure:
            return edit(draft_id, error=(message(failure), failure.field), status=409)
        guide_editor.save_draft(session, draft, model)
    return redirect(url_for(".edit", draft_id=draft_id) + (f"#at-{anchor}" if anchor else ""))


@bp.post("/<draft_id>/publish")
def publish(draft_id: str):
    try:
        with writing() as session:
            record = guide_editor.publish(session, current_vault().device_id, _draft(draft_id, session))
    except guide_editor.EditorError as failure:
        return edit(draft_id, error=(message(failure), failure.field), status=409)
    return redirect(url_for("guides.index", published=record.id))


@bp.post("/<draft_id>/discard")
def discard(draft_id: str):
    with writing() as session:
        session.delete(_draft(draft_id, session))
    return redirect(url_for("guides.index"))


@bp.route("/<draft_id>/preview")
def preview(draft_id: str):
    """The draft as the interviewer sees it: one question or the whole section, answers not saved."""
    draft = _draft(draft_id)
    try:
        _, guide = guide_editor.check(draft.model)
    except guide_editor.EditorError as failure:
        return edit(draft_id, error=(message(failure), failure.field), status=409)
    section = guide.section(request.args.get("section", "")) or guide.sections[0]
    mode = "section" if request.args.get("mode") == "section" else "question"
    question = guide.question(request.args.get("question", "")) if mode == "question" else None
    if mode == "question" and (question is None or guide.section_of(question.key) is not section):
        question = section.questions[0]
    keys = [q.key for q in guide.questions]
    place = keys.index(question.key) if question else None
    return render_template("guides/preview.html", draft=draft, guide=guide, section=section, mode=mode, question=question,
                           shown=[question] if question else list(section.questions),
                           previous=keys[place - 1] if place else None,
                           following=keys[place + 1] if place is not None and place + 1 < len(keys) else None)


@bp.route("/published/<record_id>.yaml")
def export(record_id: str):
    """A published guide version as its YAML file, to keep, share or load elsewhere."""
    record = db_session().get(GuideVersion, record_id) or abort(404)
    response = Response(record.source, mimetype="application/yaml")
    response.headers["Content-Disposition"] = f'attachment; filename="{record.guide_id}-{record.guide_version}.yaml"'
    return response


def _draft(draft_id: str, session=None) -> GuideDraft:
    return (session or db_session()).get(GuideDraft, draft_id) or abort(404)


def _first_problem(model: dict):
    """(message, field) of the draft's first mistake, or None when it could be published."""
    try:
        guide_editor.check(model)
    except guide_editor.EditorError as failure:
        return message(failure), failure.field
    return None


def _question_keys(model: dict) -> list:
    """Every question's key and text, for the conditions' list (the loader checks that it is an earlier one)."""
    return [(f"{section.get('id')}.{question.get('id')}",
             question.get("text", {}).get("de") or question.get("text", {}).get("en") or question.get("id"))
            for section in model.get("sections", []) for question in section.get("questions", [])]


def _int(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1

