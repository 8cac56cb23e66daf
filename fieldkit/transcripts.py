"""Transcripts: text files (.txt, .docx, .odt) read in memory and kept as a quotable source.

.docx and .odt are ZIP files of XML. The document's XML is inflated as a stream with a byte limit
(a declared size is not trusted) and read in one linear pass with lxml's iterparse, entities and
network access off, so neither a zip bomb nor 100,000 nested paragraphs costs more than the file is
long. Reading happens before the write transaction opens, so autosaves never wait for it.
"""
import io
import zipfile
import zlib
from pathlib import PurePath

from lxml import etree
from sqlmodel import Session, select

from . import untrusted
from .errors import UserError
from .i18n import N_
from .interviews import ensure_editable
from .models import Interview, Transcript, save
from .text import clean, decode

MAX_BYTES = 20 * 1024 * 1024
MAX_XML_BYTES = 2 * MAX_BYTES  # unpacked document XML: more is a zip bomb, not a transcript
MAX_CHARACTERS = 10_000_000
MAX_SPACES = 1000  # one <text:s c="…"/> may not inflate the text
_WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
# per format: the paragraph tags, the tags whose text counts, and what tabs, breaks and spaces are
_FORMATS = {
    ".docx": ("word/document.xml", {f"{_WORD}p"}, {f"{_WORD}t"}, f"{_WORD}tab", {f"{_WORD}br", f"{_WORD}cr"}, None),
    ".odt": ("content.xml", {f"{_ODF_TEXT}p", f"{_ODF_TEXT}h"}, None, f"{_ODF_TEXT}tab", {f"{_ODF_TEXT}line-break"},
             f"{_ODF_TEXT}s"),
}


class TranscriptError(UserError):
    message = N_("The transcript could not be read.")


def extract_text(filename: str, data: bytes) -> str:
    """The plain text of a transcript file, paragraphs separated by newlines."""
    suffix = PurePath(filename).suffix.lower()
    if len(data) > MAX_BYTES:
        raise TranscriptError(N_("The file is larger than 20 MB."))
    if suffix == ".txt":
        return _decode(data)
    if suffix not in _FORMATS:
        raise TranscriptError(N_("Transcripts can be .txt, .docx or .odt files."))
    member = _FORMATS[suffix][0]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            xml = untrusted.inflate(archive, member, MAX_XML_BYTES)
        text = _paragraphs(xml, *_FORMATS[suffix][1:])
    except untrusted.TooLarge as error:
        if error.by_ratio:
            raise TranscriptError(N_("The file unpacks to far more than a document of its size can hold, so it was not read. Save it again from the word processor and try again.")) from error
        raise TranscriptError(N_("The document's text is larger than fieldkit reads (%(limit)d MB unpacked)."),
                              limit=MAX_XML_BYTES // 2**20) from error
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, zlib.error, NotImplementedError, RuntimeError,
            ValueError, EOFError) as error:  # what damaged or encrypted archives raise
        raise TranscriptError(N_("The file is damaged or not a %(kind)s document."), kind=suffix) from error
    return text


def read(filename: str, data: bytes) -> str:
    """The transcript's text as it is kept (cleaned), or a TranscriptError; outside any transaction."""
    text = clean(extract_text(filename, data)).strip()
    if not text:
        raise TranscriptError(N_("The file contains no text."))
    return text


def add(session: Session, device_id: str, interview: Interview, filename: str, text: str,
        language: str = "de") -> Transcript:
    """Attach a transcript's text (from `read`) to an interview."""
    ensure_editable(interview)
    return save(session, device_id, Transcript(interview_id=interview.id, source_name=clean(PurePath(filename).name),
                                               text=text, language=language))


def import_transcript(session: Session, device_id: str, interview: Interview, filename: str, data: bytes,
                      language: str = "de") -> Transcript:
    ensure_editable(interview)
    return add(session, device_id, interview, filename, read(filename, data), language)


def transcripts(session: Session, interview: Interview) -> list[Transcript]:
    return list(session.exec(select(Transcript).where(Transcript.interview_id == interview.id,
                                                      Transcript.deleted == False)  # noqa: E712
                             .order_by(Transcript.created_at)))


def _decode(data: bytes) -> str:
    try:
        return decode(data)
    except ValueError as error:
        raise TranscriptError(N_("The file is not a text file fieldkit can read (UTF-8, UTF-16 or Windows-1252). Save it as UTF-8 text and try again.")) from error


def _paragraphs(xml: bytes, paragraph_tags: set, text_tags, tab: str, breaks: set, spaces) -> str:
    """The text of every paragraph in document order, in one linear pass of lxml's event parser."""
    collector = _Collector(paragraph_tags, text_tags, tab, breaks, spaces)
    parser = etree.XMLParser(target=collector, resolve_entities=False, no_network=True, huge_tree=False,
                             load_dtd=False)
    parser.feed(xml)
    return parser.close()


class _Collector:
    """Parser target: text arrives in document order. With `text_tags` only the text inside those
    elements counts (Word's w:t); without, all text inside a paragraph does (ODF). A paragraph nested
    in another ends up as one of its own."""

    def __init__(self, paragraph_tags, text_tags, tab, breaks, spaces):
        self.paragraph_tags, self.text_tags, self.tab, self.breaks, self.spaces = (
            paragraph_tags, text_tags, tab, breaks, spaces)
        self.tags, self.open, self.done, self.characters = [], [], [], 0

    def start(self, tag, attributes):
        self.tags.append(tag)
        if tag in self.paragraph_tags:
            self.open.append([])
        elif self.open and tag == self.tab:
            self._add("\t")
        elif self.open and tag in self.breaks:
            self._add("\n")
        elif self.open and tag == self.spaces:
            self._add(" " * min(_count(attributes.get(f"{_ODF_TEXT}c", "1")), MAX_SPACES))

    def data(self, text):
        if self.open and (self.text_tags is None or self.tags and self.tags[-1] in self.text_tags):
            self._add(text)

    def end(self, tag):
        self.tags.pop()
        if tag in self.paragraph_tags and self.open:
            self.done.append("".join(self.open.pop()))

    def _add(self, text: str) -> None:
        """Counted as it arrives: a million space tags in one paragraph stop at the limit, not at its end."""
        self.characters += len(text)
        if self.characters > MAX_CHARACTERS:
            raise TranscriptError(N_("The document's text is larger than fieldkit reads (%(limit)d MB unpacked)."),
                                  limit=MAX_XML_BYTES // 2**20)
        self.open[-1].append(text)

    def close(self) -> str:
        return "\n".join(self.done)


def _count(value: str) -> int:
    try:
        return max(0, int(value))
    except ValueError:
        return 1
