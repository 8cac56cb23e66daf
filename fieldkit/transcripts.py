"""Transcripts: text files (.txt, .docx, .odt) read in memory and kept as a quotable source.

.docx and .odt are ZIP files of XML; their paragraphs are read with the standard library, so the
file never touches the disk and no office package is needed.
"""
import io
import zipfile
from pathlib import PurePath
from xml.etree import ElementTree

from sqlmodel import Session, select

from .errors import UserError
from .i18n import N_
from .interviews import ensure_editable
from .models import Interview, Transcript, save

MAX_BYTES = 20 * 1024 * 1024
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
    if suffix in (".docx", ".odt"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                member = "word/document.xml" if suffix == ".docx" else "content.xml"
                if archive.getinfo(member).file_size > 10 * MAX_BYTES:
                    raise TranscriptError(N_("The file is larger than 20 MB."))
                root = ElementTree.fromstring(archive.read(member))
        except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as error:
            raise TranscriptError(N_("The file is damaged or not a %(kind)s document."), kind=suffix) from error
        return _word_text(root) if suffix == ".docx" else _odf_text(root)
    raise TranscriptError(N_("Transcripts can be .txt, .docx or .odt files."))


def import_transcript(session: Session, device_id: str, interview: Interview, filename: str, data: bytes,
                      language: str = "de") -> Transcript:
    ensure_editable(interview)
    text = extract_text(filename, data).strip()
    if not text:
        raise TranscriptError(N_("The file contains no text."))
    return save(session, device_id, Transcript(interview_id=interview.id, source_name=PurePath(filename).name,
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
    def flatten(node) -> str:
        parts = [node.text or ""]
        for child in node:
            if child.tag == f"{_ODF_TEXT}s":
                parts.append(" " * int(child.get(f"{_ODF_TEXT}c", "1")))
            elif child.tag == f"{_ODF_TEXT}tab":
                parts.append("\t")
            elif child.tag == f"{_ODF_TEXT}line-break":
                parts.append("\n")
            else:
                parts.append(flatten(child))
            parts.append(child.tail or "")
        return "".join(parts)

    return "\n".join(flatten(p) for p in root.iter() if p.tag in (f"{_ODF_TEXT}p", f"{_ODF_TEXT}h"))
