"""Names the registry does not know yet, flagged for the steward's review.

German capitalises every noun, so a capital letter alone says little. A word is *name-like* when it is
a known first name (gender-guesser's list of some 40,000 names from many countries) that is not also a
German dictionary word, or when it is neither in simplemma's German dictionary nor common in German
(wordfreq's packaged frequencies) nor a compound of common words ("Jugendmigrationsdienste").
Candidates are then:
- a title followed by capitalised words ("Herr Demir", "Frau Dr. Aydın", "Imam Yusuf");
- capitalised words before a legal form ("Kulturverein Anatolien e.V.", "Brücke gGmbH") or after an
  organisation word ("Verein Sonnenblume", "Initiative Sonnenweg", "Moscheegemeinde Ulu Camii");
- any run of capitalised words with a name-like word in it ("Ayşe Yıldız", "Kowalczyk").
"""
import math
import re
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Optional
from functools import lru_cache

import regex

TITLE = r"(?:Herrn?|Frau|Fr\.|Hr\.|Dr\.|Prof\.|Pfarrer(?:in)?|Pastor(?:in)?|Imam|Hoca|Hodscha|Rabbiner(?:in)?|Schwester|Bruder)"
CAPITAL = r"\p{Lu}[\p{L}\p{M}'’]*(?:-\p{Lu}[\p{L}\p{M}'’]*)?"
TITLES = ("Herr", "Frau", "Fr.", "Hr.", "Dr.", "Prof.", "Pfarrer", "Pastor", "Imam", "Hoca", "Hodscha", "Rabbiner",
          "Schwester", "Bruder")
TITLED = regex.compile(rf"\b{TITLE}\s+(?:{TITLE}\s+)?((?:{CAPITAL})(?:\s+{CAPITAL}){{0,2}})")
LEGAL_FORM_END = regex.compile(r"(?<=\s)(?:e\.\s?V\.|gGmbH|GmbH|gUG|UG|eG)(?!\p{L})")
LEGAL_FORM_NAME = regex.compile(rf"(?:„?{CAPITAL}“?\s+){{1,4}}$")
ORGANISATION_WORDS = ("verein", "initiative", "gemeinde", "stiftung", "netzwerk", "zentrum", "forum", "treff", "bund",
                      "gemeinschaft", "akademie", "kreis", "mission", "schule", "union")
# An organisation word ends a word and a name follows: a quoted one, or up to three capitalised words.
ORGANISATION_WORD = re.compile(rf"(?:{'|'.join(ORGANISATION_WORDS)})\s+")  # looked for in the lower-cased text
ORGANISATION_WORD_ANY_CASE = re.compile(ORGANISATION_WORD.pattern, re.IGNORECASE)
ORGANISATION_NAME = regex.compile(rf"„[^“\n]{{2,60}}“|{CAPITAL}(?:\s+{CAPITAL}){{0,2}}")
LEADING_PUNCTUATION = re.compile(r"[^\w„]*")
WORD_IN_RUN = re.compile(r"\S+")
LEADING_WORD = regex.compile(r"„?([\p{L}\p{M}'’-]+)“?\s+")
CAPITAL_WORD = regex.compile(rf"(?<![\p{{L}}\p{{M}}]){CAPITAL}")
CAPITAL_RUN = regex.compile(rf"(?<![\p{{L}}\p{{M}}])(?:{CAPITAL})(?:\s+(?:{CAPITAL}))*")
RARE = 3.2  # Zipf frequency below which a word is rare in German (common nouns lie around 3.5 to 6)
COMMON = 3.0  # the parts of a compound
NAME_AFTER_ORGANISATION_WORD = 4.0  # "Verein Sonnenblume": a word this rare after an organisation word is a name
FIRST_NAME_CEILING = 4.7  # "Anna" is a first name; "Will" or "Frank" are common German words too
FIRST_NAME_IN_DICTIONARY = 3.6  # "Mehmet" is in simplemma's dictionary too, but rare enough to be a name
FUNCTION_WORD = 5.3  # articles, pronouns, conjunctions, prepositions


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    category: str  # the guess: person | organisation


def find(text: str, known: list[tuple[int, int]] = (), words: Optional[list[str]] = None) -> list[Candidate]:
    """Candidates in the text outside the `known` spans (registry names and patterns found already);
    `words`, the text's words if the caller has them already."""
    known = sorted(known)
    found: list[Candidate] = []

    def add(start: int, end: int, category: str) -> None:
        if end > start and not _overlaps(known, start, end) and not _overlaps(found_spans, start, end):
            found.append(Candidate(start, end, category))
            insort(found_spans, (start, end))

    found_spans: list[tuple[int, int]] = []
    if any(title in text for title in TITLES):
        for match in TITLED.finditer(text):
            add(*match.span(1), "person")
    for form in LEGAL_FORM_END.finditer(text):
        before = LEGAL_FORM_NAME.search(text, max(0, form.start() - 160), form.start())
        if before:
            add(_without_leading(text, before.start(), form.start(), _function_word), form.end(), "organisation")
    lower = text.lower()
    for word in _organisation_words(text, lower):
        match = ORGANISATION_NAME.match(text, word)
        if match and (match.group().startswith("„") or any(
                _frequency(part) < NAME_AFTER_ORGANISATION_WORD for part in match.group().split())):
            start = text.rfind(" ", 0, word - 1) + 1
            add(start + len(LEADING_PUNCTUATION.match(text, start).group()), match.end(), "organisation")
    runs = set()
    seen = _NAME_LIKE
    capitalised = [word for word in set(words) if word[:1].isupper()] if words is not None else set(CAPITAL_WORD.findall(text))
    for name in [word for word in capitalised if seen.get(word) or word not in seen and name_like(word)]:
        for position in _occurrences(text, name):
            if not _overlaps(known, position, position + len(name)):
                runs.add(_run_at(text, position))
    for run in sorted(runs):
        for start, end in _uncovered(known, run, text):
            if any(map(name_like, text[start:end].split())):
                add(_without_leading(text, start, end, _not_name_like), end, "person")
    return sorted(found, key=lambda c: c.start)


def _occurrences(text: str, word: str):
    """Where a word stands on its own in the text (not inside another word)."""
    position = text.find(word)
    while position >= 0:
        end = position + len(word)
        if (position == 0 or not text[position - 1].isalpha()) and (end == len(text) or not text[end].isalpha()):
            yield position
        position = text.find(word, end)


def _run_at(text: str, position: int) -> tuple[int, int]:
    """The run of capitalised words that holds the word at `position`."""
    window = max(0, position - 200)
    for run in CAPITAL_RUN.finditer(text, window, position + 200):
        if run.start() <= position < run.end():
            return run.span()
    return position, position


def _organisation_words(text: str, lower: str):
    """Where a name after an organisation word would start: only organisation words that occur are
    looked for, each with str.find (much faster than one regular expression of all of them)."""
    if len(lower) != len(text):  # lower-casing moved offsets ("İ"): search the text itself
        yield from (match.end() for match in ORGANISATION_WORD_ANY_CASE.finditer(text))
        return
    for word in ORGANISATION_WORDS:
        position = lower.find(word)
        while position >= 0:
            after = position + len(word)
            if after < len(text) and text[after] in " \t\n":
                yield after + len(text[after:]) - len(text[after:].lstrip())
            position = lower.find(word, after)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps one of the sorted, non-overlapping spans."""
    index = bisect_left(spans, (start, start))
    return (index < len(spans) and spans[index][0] < end) or (index > 0 and spans[index - 1][1] > start)


def _uncovered(known: list[tuple[int, int]], run: tuple[int, int], text: str = "") -> list[tuple[int, int]]:
    """The stretches of a run of capitalised words that no known span covers, word by word."""
    if not _overlaps(known, *run):
        return [run]
    stretches, current = [], None
    for word in WORD_IN_RUN.finditer(text, *run):
        if _overlaps(known, word.start(), word.end()):
            if current:
                stretches.append(current)
            current = None
        else:
            current = (current[0], word.end()) if current else word.span()
    return stretches + ([current] if current else [])


def _without_leading(text: str, start: int, end: int, skipped) -> int:
    """Skip the words before a name that `skipped` says are not part of it ("Im Ramadan", "Der Kulturverein …")."""
    while True:
        word = LEADING_WORD.match(text, start, end)
        if not word or not skipped(word.group(1)):
            return start
        start = word.end()


def _function_word(word: str) -> bool:
    return _frequency(word) >= FUNCTION_WORD


def _not_name_like(word: str) -> bool:
    return not name_like(word)


_NAME_LIKE: dict[str, bool] = {}


def name_like(word: str) -> bool:
    """A first name that is not a German word, or a word neither in the dictionary nor common nor a compound."""
    known = _NAME_LIKE.get(word)
    if known is None:
        known = _NAME_LIKE[word] = _name_like(word.strip("'’-„“"))
    return known


def _name_like(word: str) -> bool:
    if len(word) < 2 or word.isupper() and len(word) <= 5:  # abbreviations such as "AWO", "VHS", "BAMF"
        return False
    frequency = _zipf(word)  # the cheap tests first: most capitalised words are common nouns
    if first_name(word):
        if frequency < FIRST_NAME_IN_DICTIONARY or frequency < FIRST_NAME_CEILING and not _dictionary_word(word):
            return True
    if frequency >= RARE or _dictionary_word(word):
        return False
    if "-" in word and all(_dictionary_word(part) for part in word.split("-") if part):
        return False
    from .matching import lemma

    return _zipf(lemma(word)) < RARE and not compound(word.lower())


@lru_cache(maxsize=100_000)
def first_name(word: str) -> bool:
    return _names().get_gender(word) not in ("unknown", "andy") if len(word) > 2 else False


@lru_cache(maxsize=1)
def _names():
    import gender_guesser.detector

    return gender_guesser.detector.Detector(case_sensitive=False)


@lru_cache(maxsize=200_000)
def _dictionary_word(word: str) -> bool:
    import simplemma

    return simplemma.is_known(word, lang="de")


@lru_cache(maxsize=200_000)
def _frequency(word: str) -> float:
    from .matching import lemma

    return max(_zipf(word), _zipf(lemma(word)))


@lru_cache(maxsize=1)
def _frequencies() -> dict:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("de")


def _zipf(word: str) -> float:
    """wordfreq's Zipf frequency of a single word, looked up in its table directly (its own function
    tokenises first, which costs more than the lookup)."""
    frequency = _frequencies().get(word.casefold())
    return math.log10(frequency) + 9 if frequency else 0.0


@lru_cache(maxsize=100_000)
def compound(word: str) -> bool:
    """Whether a word is made of German words ("Integrations|zentrum", "Förder|mitglieder",
    "Jugend|migrations|dienste"): a known or common tail after a known head (with its linking letters)."""
    for split in range(3, len(word) - 2):
        head, tail = word[:split], word[split:]
        if not (_part(tail) or len(tail) > 6 and compound(tail)):
            continue
        for joint in ("", "s", "es", "n", "en", "e"):
            stem = head[:len(head) - len(joint)] if joint else head
            if head.endswith(joint) and len(stem) >= 3 and (_part(stem) or _part(stem + "n") or _part(stem + "e")):
                return True
    return False


def _part(word: str) -> bool:
    return _zipf(word) >= COMMON
