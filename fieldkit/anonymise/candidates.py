"""Names the registry does not know yet, flagged for the steward's review.

German capitalises every noun, so a capital letter alone says little. A word is *name-like* when it is
a known first name (gender-guesser's list of some 40,000 names from many countries) or rare in German
(wordfreq's packaged frequencies, lemma included) without being a compound of common words
("Integrationszentrum"). Candidates are then:
- a title followed by capitalised words ("Herr Demir", "Frau Dr. Aydın", "Imam Yusuf");
- capitalised words before a legal form ("Kulturverein Anatolien e.V.", "Brücke gGmbH") or after an
  organisation word ("Verein Sonnenblume", "Moscheegemeinde Ulu Camii");
- any run of capitalised words with a name-like word in it ("Ayşe Yıldız", "Kowalczyk").
"""
from dataclasses import dataclass
from functools import lru_cache

import regex

TITLE = r"(?:Herrn?|Frau|Fr\.|Hr\.|Dr\.|Prof\.|Pfarrer(?:in)?|Pastor(?:in)?|Imam|Hoca|Hodscha|Rabbiner(?:in)?|Schwester|Bruder)"
CAPITAL = r"\p{Lu}[\p{L}\p{M}'’]*(?:-\p{Lu}[\p{L}\p{M}'’]*)?"
TITLED = regex.compile(rf"\b{TITLE}\s+(?:{TITLE}\s+)?((?:{CAPITAL})(?:\s+{CAPITAL}){{0,2}})")
LEGAL_FORM = regex.compile(rf"((?:„?{CAPITAL}“?\s+){{1,4}})(?:e\.\s?V\.|gGmbH|GmbH|gUG|UG|eG)(?!\p{{L}})")
ORGANISATION_WORD = regex.compile(
    rf"\b(\p{{L}}*(?:[Vv]erein|[Ii]nitiative|[Gg]emeinde|[Ss]tiftung|[Nn]etzwerk|[Zz]entrum|[Ff]orum|[Tt]reff|[Bb]und|"
    rf"[Gg]emeinschaft|[Aa]kademie|[Kk]reis))\s+(„[^“\n]{{2,60}}“|(?:{CAPITAL})(?:\s+{CAPITAL}){{0,2}})")
CAPITAL_RUN = regex.compile(rf"(?<![\p{{L}}\p{{M}}])(?:{CAPITAL})(?:\s+(?:{CAPITAL}))*")
RARE = 2.5  # Zipf frequency below which a word is rare in German (common nouns lie around 3 to 6)
COMMON = 3.0
FUNCTION_WORD = 5.5  # articles, pronouns, conjunctions


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    category: str  # the guess: person | organisation


def find(text: str, is_known) -> list[Candidate]:
    """Candidates in the text; `is_known(start, end)` says a span is already covered (registry, patterns)."""
    found: list[Candidate] = []

    def add(start: int, end: int, category: str) -> None:
        if end > start and not is_known(start, end) and not any(c.start < end and start < c.end for c in found):
            found.append(Candidate(start, end, category))

    for match in TITLED.finditer(text):
        add(*match.span(1), "person")
    for match in LEGAL_FORM.finditer(text):
        add(_without_leading_function_words(text, match.start(1)), match.end(), "organisation")
    for match in ORGANISATION_WORD.finditer(text):
        name = match.group(2)
        if name.startswith("„") or any(name_like(word) for word in name.split()):
            add(match.start(), match.end(), "organisation")
    for match in CAPITAL_RUN.finditer(text):
        run = match.group().split()
        if any(name_like(word) for word in run):
            add(match.start(), match.end(), "person")  # most unknown names in interview notes are people
    return sorted(found, key=lambda c: c.start)


def _without_leading_function_words(text: str, start: int) -> int:
    """Skip a sentence's first word such as "Der" or "Auch" before a name."""
    word = regex.match(r"\p{L}+\s+", text[start:])
    if word and _frequency(word.group().strip()) >= FUNCTION_WORD:
        return start + word.end()
    return start


@lru_cache(maxsize=100_000)
def name_like(word: str) -> bool:
    """A first name, or a word rare in German that is not a compound of common words."""
    word = word.strip("'’-")
    if len(word) < 2 or word.isupper() and len(word) <= 4:  # abbreviations such as "AWO", "VHS"
        return False
    if first_name(word) and _frequency(word) < 4.5:
        return True
    return _frequency(word) < RARE and not _compound(word.lower())


@lru_cache(maxsize=100_000)
def first_name(word: str) -> bool:
    return _names().get_gender(word) not in ("unknown", "andy") if len(word) > 2 else False


@lru_cache(maxsize=1)
def _names():
    import gender_guesser.detector

    return gender_guesser.detector.Detector(case_sensitive=False)


@lru_cache(maxsize=200_000)
def _frequency(word: str) -> float:
    from wordfreq import zipf_frequency

    from .matching import lemma

    return max(zipf_frequency(word, "de"), zipf_frequency(lemma(word), "de"))


def _compound(word: str) -> bool:
    """Whether a word is made of common German words ("Integrations|zentrum", "Eltern|abend")."""
    from wordfreq import zipf_frequency

    for split in range(3, len(word) - 2):
        head, tail = word[:split], word[split:]
        if zipf_frequency(tail, "de") < COMMON and not _compound_tail(tail):
            continue
        for joint in ("", "s", "es", "n", "en", "e"):
            stem = head[:len(head) - len(joint)]
            if head.endswith(joint) and len(stem) >= 3 and zipf_frequency(stem, "de") >= COMMON:
                return True
    return False


def _compound_tail(tail: str) -> bool:
    from wordfreq import zipf_frequency

    from .matching import lemma

    return zipf_frequency(lemma(tail), "de") >= COMMON
