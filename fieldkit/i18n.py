"""Translatable messages for code that runs without Flask (domain modules, the command line)."""
from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DEFAULT_LOCALE = "de"
LOCALES = ("de", "en")


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@lru_cache
def translations(locale: str = DEFAULT_LOCALE) -> NullTranslations:
    """The compiled catalogue for a locale (English messages are the msgids themselves)."""
    return Translations.load(str(TRANSLATIONS_DIR), [locale])


def translate(message: str, locale: str = DEFAULT_LOCALE, **params) -> str:
    """Translate outside a request, e.g. for the command line."""
    text = translations(locale).gettext(message)
    return text % params if params else text

