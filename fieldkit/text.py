"""Text as users bring it (typed, pasted from Word, read from files), made safe for every export.

Normalised to NFC; Word's manual line break (vertical tab) and form feeds become line breaks; NUL, other
control characters, lone surrogates and the non-characters U+FFFE/U+FFFF are dropped, since XML
(GraphML, SVG, REFI-QDA) cannot hold them and they carry no meaning for a reader.
"""
import re
import unicodedata

_LINE_BREAKS = re.compile("[\x0b\x0c\u2028\u2029]")
_UNWANTED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """The text as fieldkit stores and exports it."""
    text = _UNWANTED.sub("", _LINE_BREAKS.sub("\n", text))
    return unicodedata.normalize("NFC", text)


def clean_tree(value):
    """Every string in a JSON-like value cleaned (keys too)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean_tree(key): clean_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(item) for item in value]
    return value


def decode(data: bytes) -> str:
    """Bytes of a text file as editors write them: UTF-8 (with or without BOM), UTF-16 with its BOM, or
    Windows-1252 that reads as text. Anything else raises ValueError: it is refused, not guessed."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp1252")  # older Windows editors write Windows-1252
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _reads_as_text(text):
            return text.replace("\r\n", "\n")
    raise ValueError("not text in UTF-8, UTF-16 or Windows-1252")


def _reads_as_text(text: str) -> bool:
    """Whether decoded bytes look like writing: hardly any control characters."""
    odd = sum(1 for character in text if not character.isprintable() and character not in "\n\r\t\f")
    return odd <= len(text) // 200
