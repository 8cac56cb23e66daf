"""Transcripts: text files (.txt, .docx, .odt) read in memory and kept as a quotable source.

.docx and .odt are ZIP files of XML; their paragraphs are read with the standard library, so the
file never touches the disk and no office package is needed.
"""
import io
import zipfile
import zlib
from pathlib import PurePath
from xml.etree import ElementTree

from sqlmodel import Session, select

from .errors import UserError
from .i18n import N_
from .interviews import ensure_editable
from .models import Interview, Transcript, save
from .text import clean

MAX_BYTES = 20 * 1024 * 1024
MAX_XML_BYTES = 2 * MAX_BYTES  # unpacked document XML: more is a zip bomb, not a transcript
MAX_CHARACTERS = 10_000_000
MAX_SPACES = 1000  # one <text:s c="…"/> may not inflate the text
_WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


class TranscriptError(UserError):
    message = N_("The transcript could not be read.")


def extract_text(filename: str, data: bytes) -> str:
    """The plain text of a transcript file, paragraphs separated by newlines."""
    suffix = PurePath(filename).suffix.lower()
    if len(data) > MAX_BYTES:
        raise TranscriptError(N_("The file is larger than 20 MB."))
    if suffix == ".txt":
        return _decode(data)
    if suffix not in (".docx", ".odt"):
        raise TranscriptError(N_("Transcripts can be .txt, .docx or .odt files."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = "word/document.xml" if suffix == ".docx" else "content.xml"
            if archive.getinfo(member).file_size > MAX_XML_BYTES:
                raise TranscriptError(N_("The file is larger than 20 MB."))
            root = ElementTree.fromstring(archive.read(member))
        text = _word_text(root) if suffix == ".docx" else _odf_text(root)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, zlib.error, NotImplementedError, RuntimeError,
            ValueError, EOFError) as error:  # what damaged or encrypted archives raise
        raise TranscriptError(N_("The file is damaged or not a %(kind)s document."), kind=suffix) from error
    if len(text) > MAX_CHARACTERS:
        raise TranscriptError(N_("The file is larger than 20 MB."))
    return text


def import_transcript(session: Session, device_id: str, interview: Interview, filename: str, data: bytes,
                      language: str = "de") -> Transcript:
    ensure_editable(interview)
    text = clean(extract_text(filename, data)).strip()
    if not text:
        raise TranscriptError(N_("The file contains no text."))
    return save(session, device_id, Transcript(interview_id=interview.id, source_name=clean(PurePath(filename).name),
                                               text=text, language=language))


def transcripts(session: Session, interview: Interview) -> list[Transcript]:
    return list(session.exec(select(Transcript).where(Transcript.interview_id == interview.id,
                                                      Transcript.deleted == False)  # noqa: E712
                             .order_by(Transcript.created_at)))


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return text.replace("\r\n", "\n")
    return data.decode("cp1252", errors="replace").replace("\r\n", "\n")  # older Windows editors


def _word_text(root) -> str:
    paragraphs = []
    for paragraph in root.iter(f"{_WORD}p"):
        parts = []
        for node in paragraph.iter():
            if node.tag == f"{_WORD}t" and node.text:
                parts.append(node.text)
            elif node.tag == f"{_WORD}tab":
                parts.append("\t")
            elif node.tag in (f"{_WORD}br", f"{_WORD}cr"):
                parts.append("\n")
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs)


def _odf_text(root) -> str:
    paragraphs = (node for node in root.iter() if node.tag in (f"{_ODF_TEXT}p", f"{_ODF_TEXT}h"))
    return "\n".join("".join(_odf_pieces(paragraph)) for paragraph in paragraphs)


def _odf_pieces(paragraph):
    """The text of an ODF paragraph in document order, walked without recursion (nesting is unbounded)."""
    stack = [("node", paragraph)]
    while stack:
        kind, item = stack.pop()
        if kind == "text":
            yield item
        elif item.tag == f"{_ODF_TEXT}s":
            yield " " * min(int(item.get(f"{_ODF_TEXT}c", "1")), MAX_SPACES)
        elif item.tag == f"{_ODF_TEXT}tab":
            yield "\t"
        elif item.tag == f"{_ODF_TEXT}line-break":
            yield "\n"
        else:
            yield item.text or ""
            for child in reversed(item):
                stack.append(("text", child.tail or ""))
                stack.append(("node", child))
