"""Interview rules on a real (encrypted) vault: status flow, consent gate, notes, quotes, transcripts,
table import and profile."""
import io
import os
import zipfile

import pytest
from sqlmodel import Session, select

from fieldkit import db, imports, interviews, quotes, transcripts
from fieldkit.guide import guide_version, latest_guide
from fieldkit.models import Interview, Organisation, QuoteCode, save
from fieldkit.organisations import update_profile


@pytest.fixture
def session(vault):
    with db.writing(vault.engine) as session:
        yield session


@pytest.fixture
def planned(session, vault):
    organisation = save(session, vault.device_id, Organisation(name="Frauentreff"))
    return interviews.new(session, vault.device_id, organisation, latest_guide(session, "mikoss"), "Ayla")


@pytest.fixture
def guide(session):
    return guide_version(session, "mikoss", "1.0")


def consent(session, vault, interview, agreed=("quotes", "network_map")):
    return interviews.record_consent(session, vault.device_id, interview, "Vorsitzende", "written", "2026-11-26", set(agreed))


def test_nothing_can_be_noted_before_consent(session, vault, planned, guide):
    with pytest.raises(interviews.NotEditable, match="consent"):
        interviews.save_answer(session, vault.device_id, planned, guide, "organisation.history", "Text")
    assert interviews.answers(session, planned) == {}


@pytest.mark.parametrize("by, how, date, expected", [
    ("", "written", "2026-11-26", "Name the person"),
    ("Vorsitzende", "by pigeon", "2026-11-26", "in writing or verbally"),
    ("Vorsitzende", "verbal", "gestern", "date of consent"),
])
def test_consent_must_say_who_how_and_when(session, vault, planned, by, how, date, expected):
    with pytest.raises(interviews.InterviewError, match=expected):
        interviews.record_consent(session, vault.device_id, planned, by, how, date, set())
    assert planned.status == "planned"


def test_the_status_flow_from_planned_to_locked(session, vault, planned, guide):
    consent(session, vault, planned)
    assert planned.status == "consented" and planned.consent["agreed"] == {
        "recording": False, "quotes": True, "network_map": True, "archiving": False}
    interviews.save_answer(session, vault.device_id, planned, guide, "organisation.history", "Gegründet 2011.")
    assert planned.status == "in_progress"
    with pytest.raises(interviews.InterviewError):
        interviews.change_status(session, vault.device_id, planned, "lock")  # only a completed interview locks
    interviews.change_status(session, vault.device_id, planned, "complete")
    with pytest.raises(interviews.NotEditable, match="Reopen"):
        interviews.save_answer(session, vault.device_id, planned, guide, "organisation.history", "Nachtrag")
    interviews.change_status(session, vault.device_id, planned, "reopen")
    interviews.change_status(session, vault.device_id, planned, "complete")
    interviews.change_status(session, vault.device_id, planned, "lock")
    assert planned.status == "locked"
    with pytest.raises(interviews.NotEditable, match="locked"):
        interviews.save_answer(session, vault.device_id, planned, guide, "organisation.history", "Änderung")
    with pytest.raises(interviews.InterviewError):
        interviews.change_status(session, vault.device_id, planned, "reopen")
    assert interviews.answers(session, planned)["organisation.history"].text == "Gegründet 2011."


def test_notes_are_saved_whole_and_versioned(session, vault, planned, guide):
    consent(session, vault, planned)
    first = interviews.save_answer(session, vault.device_id, planned, guide, "practices.formal", "Beratung")
    again = interviews.save_answer(session, vault.device_id, planned, guide, "practices.formal", "Beratung und Kurse")
    assert first.id == again.id and again.version == {vault.device_id: 2} and again.covered
    interviews.set_question_covered(session, vault.device_id, planned, guide, "practices.formal", False)
    interviews.save_answer(session, vault.device_id, planned, guide, "practices.formal", "Beratung, Kurse, Feste")
    assert not again.covered  # the interviewer's untick stands
    with pytest.raises(interviews.InterviewError):
        interviews.save_answer(session, vault.device_id, planned, guide, "no.such_question", "x")


def test_coverage_clock_and_position(session, vault, planned, guide):
    consent(session, vault, planned)
    interviews.set_covered_item(session, vault.device_id, planned, guide, "practices", "education", True)
    interviews.set_covered_item(session, vault.device_id, planned, guide, "practices", "work", True)
    interviews.set_covered_item(session, vault.device_id, planned, guide, "practices", "education", False)
    assert planned.coverage == {"practices": ["work"]}
    interviews.add_section_time(session, vault.device_id, planned, guide, "practices", 30)
    interviews.add_section_time(session, vault.device_id, planned, guide, "practices", 99999)  # a broken clock
    assert planned.section_seconds == {"practices": 30}
    interviews.remember_position(session, vault.device_id, planned, "network", "network.power", "question")
    assert planned.position == {"section": "network", "question": "network.power", "mode": "question"}


def test_quotes_need_consent_matching_text_and_take_codes(session, vault, planned, guide):
    consent(session, vault, planned, agreed=())
    note = interviews.save_answer(session, vault.device_id, planned, guide, "network.power",
                                  "Das Jobcenter bestimmt alles über uns.")
    with pytest.raises(quotes.QuoteError, match="did not agree"):
        quotes.mark_quote(session, vault.device_id, planned, "answer", note.id, 4, 13, "Jobcenter")
    planned.consent = {**planned.consent, "agreed": {"quotes": True}}
    with pytest.raises(quotes.QuoteError, match="still being saved"):
        quotes.mark_quote(session, vault.device_id, planned, "answer", note.id, 4, 13, "Jobcentre")
    codes = {code.label: code for code in quotes.codebook(session)}
    power, conflict = codes["Machtasymmetrie / einseitige Arbeit"], codes["Konflikt"]
    quote = quotes.mark_quote(session, vault.device_id, planned, "answer", note.id, 4, 13, "Jobcenter", [power.id])
    quotes.code_quote(session, vault.device_id, planned, quote, [conflict.id])
    quotes.code_quote(session, vault.device_id, planned, quote, [conflict.id, power.id])
    assert [c.label for c in quotes.quotes(session, planned)[0].codes] == ["Konflikt", "Machtasymmetrie / einseitige Arbeit"]
    assert len(session.exec(QuoteCode.__table__.select()).all()) == 2  # the removed link came back, not a third
    assert quotes.quotes(session, planned, code_id=codes["Konkurrenz"].id) == []
    assert quotes.quotes(session, planned, code_id=power.id)[0].quote.text == "Jobcenter"


def test_the_codebook_can_be_extended_with_sub_codes(session, vault):
    parent = next(c for c in quotes.codebook(session) if c.label == "Kooperation")
    child = quotes.add_code(session, vault.device_id, "Kooperation mit Schulen", parent_id=parent.id)
    assert child.parent_id == parent.id
    with pytest.raises(quotes.QuoteError, match="already has"):
        quotes.add_code(session, vault.device_id, "kooperation")


def _docx(paragraphs):
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f'<w:p><w:r><w:t>{p}</w:t></w:r></w:p>' for p in paragraphs)
    return _zip("word/document.xml", f'<w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>')


def _odt(paragraphs):
    ns = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    body = "".join(f"<text:p>{p}</text:p>" for p in paragraphs)
    return _zip("content.xml", f'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                               f'xmlns:text="{ns}"><office:body><office:text>{body}</office:text></office:body></office:document-content>')


def _zip(name, xml):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, xml)
    return buffer.getvalue()


@pytest.mark.parametrize("filename, data", [
    ("t.txt", "I: Wie fing es an?\nB: Mit fünf Frauen.".encode()),
    ("t.txt", "I: Wie fing es an?\r\nB: Mit fünf Frauen.".encode("cp1252")),
    ("t.txt", "I: Wie fing es an?\nB: Mit fünf Frauen.".encode("utf-16")),
    ("t.docx", _docx(["I: Wie fing es an?", "B: Mit fünf Frauen."])),
    ("t.odt", _odt(["I: Wie fing es an?", "B: Mit fünf Frauen."])),
])
def test_transcripts_are_read_from_txt_docx_and_odt(filename, data):
    assert transcripts.extract_text(filename, data) == "I: Wie fing es an?\nB: Mit fünf Frauen."


def test_odf_spaces_cannot_inflate_and_deep_nesting_is_read():
    bomb = _odt(['A<text:s text:c="100000000"/>B'])
    assert transcripts.extract_text("t.odt", bomb) == "A" + " " * transcripts.MAX_SPACES + "B"
    nested = _odt(["<text:span>" * 5000 + "tief" + "</text:span>" * 5000])
    assert transcripts.extract_text("t.odt", nested) == "tief"


@pytest.mark.parametrize("filename, data, expected", [
    ("t.docx", _zip("word/document.xml", "<w:document " + "x" * (transcripts.MAX_XML_BYTES + 10) + "/>"), "larger than 20 MB"),
    ("t.pdf", b"%PDF", ".txt, .docx or .odt"),
    ("t.docx", b"not a zip", "damaged"),
    ("t.odt", _zip("other.xml", "<x/>"), "damaged"),
])
def test_unreadable_transcripts_are_refused_clearly(filename, data, expected):
    with pytest.raises(transcripts.TranscriptError, match=expected):
        transcripts.extract_text(filename, data)


def _lying_zip(member: str, content: bytes) -> bytes:
    """A ZIP whose central directory claims a tiny uncompressed size for a huge member."""
    import struct

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, content)
    data = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central headers
        position = data.find(signature)
        data[position + offset:position + offset + 4] = struct.pack("<I", 100)
    return bytes(data)


def test_hostile_transcripts_cost_no_more_than_their_length():
    import time

    bomb = b"<w:document>" + b" " * (transcripts.MAX_XML_BYTES + 10) + b"</w:document>"
    for data in (_zip("word/document.xml", bomb.decode()), _lying_zip("word/document.xml", bomb)):
        with pytest.raises(transcripts.TranscriptError, match="larger than|far more than a document|damaged"):
            transcripts.extract_text("t.docx", data)  # never inflated beyond the limit, whatever it declares
    word = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    nested = _zip("word/document.xml", f'<w:document xmlns:w="{word}"><w:body>' + "<w:p>" * 20_000
                  + "<w:r><w:t>tief</w:t></w:r>" + "</w:p>" * 20_000 + "</w:body></w:document>")
    started = time.monotonic()
    assert transcripts.extract_text("t.docx", nested).strip() == "tief"
    assert time.monotonic() - started < 2  # linear: 20,000 nested paragraphs took 41 s before
    assert transcripts.extract_text("t.odt", _odt(['A<text:s text:c="viele"/>B'])) == "A B"


@pytest.mark.parametrize("data, text", [
    ("Größe und Übergänge".encode("utf-16"), "Größe und Übergänge"),
    ("Größe und Übergänge".encode("cp1252"), "Größe und Übergänge"),
    ("\ufeffGrüße".encode("utf-8"), "Grüße"),
])
def test_text_transcripts_in_the_encodings_editors_write(data, text):
    assert transcripts.extract_text("t.txt", data) == text


def test_random_bytes_are_not_taken_for_text():
    import random

    rng = random.Random(4)
    noise = bytes(rng.randrange(256) for _ in range(5000))
    with pytest.raises(transcripts.TranscriptError, match="not a text file"):
        transcripts.extract_text("t.txt", noise)


def test_a_transcript_becomes_a_quotable_source(session, vault, planned):
    consent(session, vault, planned)
    record = transcripts.import_transcript(session, vault.device_id, planned, "/home/x/interview.docx",
                                           _docx(["I: Frage", "B: Wir helfen uns gegenseitig."]))
    assert record.source_name == "interview.docx"
    quote = quotes.mark_quote(session, vault.device_id, planned, "transcript", record.id, 12, 39,
                              "Wir helfen uns gegenseitig.")
    assert quote.transcript_id == record.id


CSV = """Name;Stadt;Gründungsjahr;Mitglieder;Finanzierung;interviewer;interview_date
Elternnetzwerk Nord;Musterstadt;2005;26-50;donations, membership_fees;Ayla;14.03.2026
;Musterstadt;2010;;;;
Sportverein Süd;Musterstadt;1750;viele;lottery;;
Elternnetzwerk Nord;Musterstadt;;;;;
Kulturverein West;Musterstadt;2001;45;;;
Jugendinitiative;Musterstadt;2015;> 200;;;
"""


def test_a_table_import_previews_every_row_and_imports_the_good_ones(session, vault):
    rows = imports.preview(session, imports.read_table("orgs.csv", CSV.encode("utf-8")))
    assert [row.line for row in rows if not row.errors] == [2, 6, 7]
    assert [row.fields["members_band"] for row in rows if not row.errors] == ["26-50", "26-50", ">200"]  # counts → bands
    problems = {row.line: [text % params for text, params in row.errors] for row in rows}
    assert problems[3] == ["The name is missing."]
    assert len(problems[4]) == 3  # founding year, members band, funding source
    assert problems[5] == ["The same organisation appears twice in the table."]
    assert imports.import_rows(session, vault.device_id, rows) == (3, 1)
    planned = interviews.find(session, "Elternnetzwerk")[0]
    assert planned.interview.status == "planned" and planned.interview.date.isoformat() == "2026-03-14"
    assert planned.organisation.funding_sources == ["donations", "membership_fees"]
    again = imports.preview(session, imports.read_table("orgs.csv", CSV.encode("utf-8")))
    assert again[0].errors  # now it exists already


def test_xlsx_tables_are_read_too():
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["name", "city", "founded"])
    workbook.active.append(["Kulturverein", "Musterstadt", 1998])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert imports.read_table("orgs.xlsx", buffer.getvalue()) == [{"name": "Kulturverein", "city": "Musterstadt", "founded": "1998"}]


def test_a_million_space_tags_in_one_paragraph_stop_at_the_limit():
    """0.76 MB of .odt took 9.6 s and 2.1 GB before it was refused at the paragraph's end."""
    many = _odt(['<text:s text:c="1000"/>' * 20_000])
    with pytest.raises(transcripts.TranscriptError, match="larger than fieldkit reads"):
        transcripts.extract_text("t.odt", many)


def test_a_workbook_with_a_million_cell_formats_is_refused_before_openpyxl_builds_them():
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["name"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    original = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in original.namelist():
            content = original.read(name)
            if name == "xl/styles.xml":  # like 30 KB that took openpyxl 29 s and 600 MB (noise: under the ratio limit)
                formats = b"".join(b"<xf/>" * 1000 + b"<!--%s-->" % os.urandom(12).hex().encode() for _ in range(1000))
                content = content.replace(b"<cellXfs", b"<cellXfs>" + formats + b"</cellXfs><x", 1)
            archive.writestr(name, content)
    with pytest.raises(imports.TableError, match="too many cell formats"):
        imports.read_table("orgs.xlsx", rebuilt.getvalue())


def test_a_workbook_bomb_is_refused_before_openpyxl_reads_its_shared_strings():
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["name"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:  # openpyxl would load all of it
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b" " * (imports.MAX_UNPACKED + 1) + b"</sst>")
    with pytest.raises(imports.TableError, match="unpacks to (more than 100 MB|far more)"):
        imports.read_table("orgs.xlsx", buffer.getvalue())


@pytest.mark.parametrize("filename, data, expected", [
    ("orgs.ods", b"x", ".csv or .xlsx"),
    ("orgs.csv", b"", "empty"),
    ("orgs.csv", b"Stadt\nMusterstadt\n", "needs a column 'name'"),
    ("orgs.csv", b"name,colour\nA,red\n", "Unknown column: colour"),
    ("orgs.xlsx", b"not a workbook", "damaged"),
])
def test_unreadable_tables_are_refused_clearly(filename, data, expected):
    with pytest.raises(imports.TableError, match=expected):
        imports.read_table(filename, data)


def test_profile_changes_only_when_every_field_is_valid(session, vault, planned):
    organisation = session.get(Organisation, planned.organisation_id)
    errors = update_profile(session, vault.device_id, organisation, {"name": "Frauentreff", "founded": "zwanzig",
                                                                     "practices_formal": "7", "reach": "city"})
    assert len(errors) == 2 and organisation.reach is None
    assert update_profile(session, vault.device_id, organisation, {
        "name": "Frauentreff", "founded": "2011", "practices_informal": "5", "reach": "neighbourhood",
        "offer_fields": ["everyday_support"], "funding_sources": ["donations"], "target_groups": "Frauen, Familien"}) == []
    assert (organisation.founded, organisation.practices_informal, organisation.target_groups) == (2011, 5, ["Frauen", "Familien"])


def test_each_demo_interview_has_a_coded_quote(vault):
    from fieldkit import db
    from fieldkit.demo import create_demo_data
    from fieldkit.models import Quote, QuoteCode

    with db.writing(vault.engine) as session:
        create_demo_data(session, vault.device_id)
    with Session(vault.engine) as session:
        interviews_with_quotes = {quote.interview_id for quote in session.exec(select(Quote))
                                  if session.exec(select(QuoteCode).where(QuoteCode.quote_id == quote.id)).first()}
        assert interviews_with_quotes == set(session.exec(select(Interview.id)))


def test_a_utf16_table_is_read_and_noise_is_refused_plainly():
    table = "Name;Stadt\nKulturverein Süd;Köln\n".encode("utf-16")
    assert imports.read_table("orgs.csv", table) == [{"name": "Kulturverein Süd", "city": "Köln"}]
    with pytest.raises(imports.TableError, match="not a text file"):
        imports.read_table("orgs.csv", bytes(range(256)) * 20)


def test_autosave_counts_each_change_once_and_keeps_every_check(vault):
    """Autosave's one-UPDATE path stores what save_answer would: the text, one more change counted for
    this device, the time as the ORM stores it; anything unusual goes through save_answer's checks."""
    from sqlalchemy import text

    with db.writing(vault.engine) as session:
        organisation = save(session, vault.device_id, Organisation(name="Frauentreff"))
        planned = interviews.new(session, vault.device_id, organisation, latest_guide(session, "mikoss"), "Ayla")

    def autosave(question, note, interview_id=None):
        return interviews.autosave(vault.engine, vault.device_id, interview_id or planned.id, question, note)

    with pytest.raises(interviews.NotEditable):
        autosave("organisation.history", "vor der Einwilligung")
    with db.writing(vault.engine) as session:
        consent(session, vault, session.get(Interview, planned.id))
    assert autosave("organisation.history", "Gegründet")  # a first note: starts the interview
    assert autosave("organisation.history", "Gegründet 2011")
    assert autosave("organisation.history", "Gegründet 2011")  # the same text again counts nothing
    assert autosave("organisation.history", "Gegründet 2011\x00 in Köln")  # cleaned like every note
    with pytest.raises(interviews.InterviewError, match="not part"):
        autosave("no.such_question", "x")
    assert autosave("organisation.history", "x", interview_id="no-such-interview") is False
    with db.writing(vault.engine) as session:
        note = interviews.answers(session, session.get(Interview, planned.id))["organisation.history"]
        assert note.text == "Gegründet 2011 in Köln" and note.version == {vault.device_id: 3}
        assert session.get(Interview, planned.id).status == "in_progress"
        stored = session.connection().execute(text("SELECT updated_at, created_at FROM answer")).one()
        assert len(stored[0]) == len(stored[1]) and note.updated_at > note.created_at
        interviews.change_status(session, vault.device_id, session.get(Interview, planned.id), "complete")
    with pytest.raises(interviews.NotEditable, match="Reopen"):
        autosave("organisation.history", "Nachtrag")
