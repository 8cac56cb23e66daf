"""Finding registered names in German text in one pass, whatever form they take.

Text is read as a sequence of words. Each word gets a *key*: itself in lower case if that is a word
of some registered name, else its lemma (simplemma: "Vereins" → "verein", "türkischen" → "türkisch"),
else itself without a German inflection ending ("Lomingos" → "lomingo"), else nothing. Every
variant of every registry entry is a sequence of such keys, and one Aho-Corasick automaton
(pyahocorasick) finds all of them in the text's key sequence at once. Matching on words makes it
case-insensitive and blind to line breaks between the words of a name; a word split at a line end
("Lo-⏎mingo") is joined first; a hyphen splits compounds, so "Lomingo-Vorstand" finds "Lomingo".
"""
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Iterable

import ahocorasick

# A word; a word broken at a line end by a hyphen before a lower-case continuation is one word.
WORD = re.compile(r"\w+(?:-[ \t]*\n[ \t]*[a-zäöüß]\w*)*")
WORD_PIECES = re.compile(f"({WORD.pattern})")
PLAIN_PIECES = re.compile(r"(\w+)")  # the same words in a text without a hyphen at a line end, found faster
BREAK = re.compile(r"-[ \t]*\n[ \t]*")
SEPARATOR = "\x1f"
# Inflection endings of German nouns, adjectives and names, longest first.
ENDINGS = ("ern", "ens", "em", "en", "er", "es", "ns", "e", "n", "s")
POSSESSIVE = ("'s", "’s", "'", "’")
PREFIX = 4  # letters an inflected form shares with its dictionary form


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """The dictionary form of a German word, in lower case."""
    import simplemma

    return simplemma.lemmatize(word, lang="de").lower()


def words(text: str) -> list[str]:
    """The words of a text as the matcher reads them."""
    return [BREAK.sub("", word) for word in WORD.findall(text)]


def name_keys(name: str) -> tuple[str, ...]:
    """A registered name as a sequence of word keys (its words' lemmas)."""
    return tuple(lemma(word) for word in words(name))


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    entry_id: str


class Matcher:
    """All variants of all registry entries, compiled once; `find` then runs in one pass per text."""

    def __init__(self, names: Iterable[tuple[str, str]]):
        """`names`: (entry id, name or variant) pairs."""
        self.automaton = ahocorasick.Automaton()
        self.vocabulary: set[str] = set()
        patterns: dict[str, tuple[str, int]] = {}
        for entry_id, name in names:
            keys = name_keys(name)
            if not keys:
                continue
            self.vocabulary.update(keys)
            pattern = SEPARATOR + SEPARATOR.join(keys) + SEPARATOR
            # Two entries with the same spelling: the first wins (a registry lists each spelling once).
            patterns.setdefault(pattern, (entry_id, len(keys)))
        for pattern, value in patterns.items():
            self.automaton.add_word(pattern, value)
        self.empty = not patterns
        # A word can only match if it begins like some registered word: most words never need a lemma.
        self.beginnings = {key[:PREFIX] for key in self.vocabulary}
        if not self.empty:
            self.automaton.make_automaton()
        self._keys: dict[str, str] = {}
        self.last_words: tuple = ("", [])

    def key(self, word: str) -> str:
        """The key of a word of the text: what it matches in the registry, or "" for nothing."""
        known = self._keys.get(word)
        if known is None:
            known = self._keys[word] = self._find_key(word)
        return known

    def _find_key(self, word: str) -> str:
        low = word.lower()
        if low in self.vocabulary:
            return low
        if low[:PREFIX] not in self.beginnings:
            return ""
        if lemma(word) in self.vocabulary:
            return lemma(word)
        for ending in ENDINGS:
            if low.endswith(ending) and low[:-len(ending)] in self.vocabulary:
                return low[:-len(ending)]
        return ""

    def find(self, text: str) -> list[Match]:
        """Every registered name in the text, longest first where two overlap."""
        if self.empty or not text:
            return []
        broken = "-\n" in text or "-" in text and BREAK.search(text)
        # Splitting on a captured word gives gap, word, gap, word, …, gap: the words and (summing the
        # lengths) their places in the text, all without a Python loop over the words.
        pieces = (WORD_PIECES if broken else PLAIN_PIECES).split(text)
        found = pieces[1::2]
        self.last_words = (text, found)  # the candidates' search reuses them
        if broken:
            found = [BREAK.sub("", word) for word in found]
        keys = list(map(self._keys.get, found))  # known words at C speed; the rest looked up once each
        if None in keys:
            keys = [self.key(word) if key is None else key for word, key in zip(found, keys)]
        joined = SEPARATOR + SEPARATOR.join(keys) + SEPARATOR
        hits = list(self.automaton.iter(joined))
        if not hits:
            return []
        return self._spans(text, joined, hits, pieces)

    def _spans(self, text: str, joined: str, hits: list, pieces: list[str]) -> list[Match]:
        chosen: list[tuple[int, int, str]] = []  # (first word, last word, entry)
        for end, (entry_id, length) in hits:
            last = joined.count(SEPARATOR, 0, end) - 1
            chosen.append((last - length + 1, last, entry_id))
        offsets = list(accumulate(map(len, pieces)))  # word i spans offsets[2i] … offsets[2i + 1]
        chosen.sort(key=lambda hit: (hit[0], hit[0] - hit[1]))  # leftmost, then longest
        matches, covered = [], -1
        for first, last, entry_id in chosen:
            if first <= covered:
                continue
            start, end = offsets[2 * first], offsets[2 * last + 1]
            end += next((len(mark) for mark in POSSESSIVE if text.startswith(mark, end)), 0)
            matches.append(Match(start, end, entry_id))
            covered = last
        return matches

