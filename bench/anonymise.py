"""Redaction: throughput on 1,000,000 words of synthetic German notes with a registry of 2,000 entries
(each with variants), and precision and recall on hand-labelled German notes (bench/labelled_de.txt).

    python bench/anonymise.py            # last line: words_per_s: N

Throughput counts the whole scan of a note as the steward's screens and the release run it: registry
names in every form, patterns, unknown-name candidates, and the redacted text. Recall is measured on
registered names (each marked form), and on unregistered person and organisation names; precision
over everything flagged or replaced in the labelled notes.
"""
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from fieldkit import db
from fieldkit.anonymise import registry, review
from fieldkit.vault import Vault, new_project_identity

WORDS = 1_000_000
NOTE_WORDS = 200
ENTRIES = 2000
LABELLED = Path(__file__).parent / "labelled_de.txt"
MARK = re.compile(r"\{([RPOLC])\|(.*?)\}", re.DOTALL)
REGISTERED = [("mo", "Lomingo", ["Lomingo e.V.", "LeV"]), ("mo", "Ameran", []),
              ("mo", "Türkischer Elternverein Musterstadt", []), ("organisation", "Jobcenter Musterstadt", []),
              ("organisation", "Caritas-Migrationsberatung", []), ("person", "Ayla Demir", []),
              ("person", "Fatma Kaya", ["Kaya"]), ("place", "Musterstadt", [])]


def synthetic_registry(rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """2,000 invented names in the study's categories, each with two variants."""
    import gender_guesser.detector

    first_names = sorted(name.title() for name in gender_guesser.detector.Detector().names if name.isalpha())[:5000]
    syllables = ["ka", "ro", "mi", "del", "tan", "ye", "sur", "bek", "lan", "nur", "zar", "vo", "ste", "gin", "ork"]

    def surname() -> str:
        return "".join(rng.choice(syllables) for _ in range(3)).title()

    entries = []
    for number in range(ENTRIES):
        kind = number % 4
        if kind == 0:
            name = f"{rng.choice(['Kulturverein', 'Elternverein', 'Frauentreff', 'Bildungswerk'])} {surname()}"
            entries.append(("mo", name, [f"{name} e.V.", "".join(word[0] for word in name.split()) + "V"]))
        elif kind == 1:
            given, family = rng.choice(first_names), surname()
            entries.append(("person", f"{given} {family}", [family, f"{given[0]}. {family}"]))
        elif kind == 2:
            name = f"{surname()}-{rng.choice(['Stiftung', 'Zentrum', 'Initiative'])}"
            entries.append(("organisation", name, [name.replace("-", " "), name.split("-")[0]]))
        else:
            name = f"{surname()}{rng.choice(['dorf', 'hausen', 'heim'])}"
            entries.append(("place", name, [f"{name} (Nord)", f"{name}-Mitte"]))
    return entries


def synthetic_notes(rng: random.Random, spellings: list[str]) -> list[str]:
    """Notes of common German words (some capitalised, as nouns are), a registered name every ~40
    words, now and then in the genitive, and a phone number or e-mail address every ~500 words."""
    from wordfreq import top_n_list

    common = [word for word in top_n_list("de", 4000) if word.isalpha()]
    notes, words = [], 0
    while words < WORDS:
        parts = []
        for position in range(NOTE_WORDS):
            roll = rng.random()
            if roll < 0.025:
                parts.append(rng.choice(spellings) + ("s" if rng.random() < 0.2 else ""))
            elif roll < 0.027:
                parts.append(rng.choice(["0221 / 123 45 67", "info@beispiel-verein.de", "+49 171 2345678"]))
            else:
                word = rng.choice(common)
                parts.append(word.title() if rng.random() < 0.25 or position == 0 else word)
            if rng.random() < 0.08:
                parts[-1] += "."
        notes.append(" ".join(parts))
        words += NOTE_WORDS
    return notes


def labelled() -> tuple[str, list[tuple[int, int, str]]]:
    """The labelled notes as one text, with the marked spans (start, end, kind)."""
    raw = "".join(line for line in LABELLED.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith("#"))
    text, gold, position = [], [], 0
    for match in MARK.finditer(raw):
        text.append(raw[position:match.start()])
        start = sum(map(len, text))
        text.append(match.group(2))
        gold.append((start, start + len(match.group(2)), match.group(1)))
        position = match.end()
    text.append(raw[position:])
    return "".join(text), gold


def quality(scanner: review.Scanner) -> dict:
    text, gold = labelled()
    flagged = [(f.start, f.end) for f in scanner.findings("text", text, {}) if f.action != "keep"]
    overlaps = lambda a, b: a[0] < b[1] and b[0] < a[1]  # noqa: E731
    correct = sum(1 for span in flagged if any(overlaps(span, g[:2]) for g in gold))

    def recall(kinds: str) -> float:
        wanted = [g for g in gold if g[2] in kinds]
        return sum(1 for g in wanted if any(overlaps(span, g[:2]) for span in flagged)) / len(wanted)

    missed = [text[g[0]:g[1]] for g in gold if g[2] in "RPOC" and not any(overlaps(s, g[:2]) for s in flagged)]
    wrong = [text[s[0]:s[1]] for s in flagged if not any(overlaps(s, g[:2]) for g in gold)]
    return {"precision": correct / len(flagged), "recall_registered": recall("R"), "recall_unregistered": recall("PO"),
            "recall_contact": recall("C"), "flagged": len(flagged), "missed": missed, "wrong": wrong}


def main() -> int:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        vault = Vault(Path(folder) / "vault", memory_kib=8192, iterations=1)
        vault.create("Benchmark im Lindenviertel", [new_project_identity()[1]])
        entries = synthetic_registry(rng) + REGISTERED
        with db.writing(vault.engine) as session:
            for category, name, variants in entries:
                try:
                    registry.add(session, vault.device_id, category, name, variants)
                except registry.RegistryError:  # an invented abbreviation taken already: keep the name alone
                    registry.add(session, vault.device_id, category, name)
        from sqlmodel import Session

        with Session(vault.engine) as session:
            started = time.perf_counter()
            scanner = review.Scanner(session)
            built = time.perf_counter() - started
            spellings = [spelling for entry in registry.entries(session) for spelling in registry.spellings(entry)]
            print(f"registry: {len(spellings)} spellings of {len(registry.entries(session))} entries, automaton built in {built:.2f} s")
            measured = quality(scanner)
            notes = synthetic_notes(rng, spellings[:-20])
            scanner.findings("text", notes[0], {})  # warm the lemma and frequency caches with one note
            started = time.perf_counter()
            findings = 0
            for note in notes:
                found = scanner.findings("text", note, {})
                findings += len(found)
                review.redact(note, [f for f in found if not f.open])
            seconds = time.perf_counter() - started
        vault.lock()
    words = len(notes) * NOTE_WORDS
    print(f"scanned {words:,} words in {len(notes):,} notes in {seconds:.2f} s: {findings:,} findings")
    print(f"labelled notes: precision {measured['precision']:.1%} of {measured['flagged']} flagged; recall: registered "
          f"{measured['recall_registered']:.1%}, unregistered persons and organisations {measured['recall_unregistered']:.1%}, "
          f"contact details {measured['recall_contact']:.1%}")
    if measured["missed"]:
        print("missed: " + "; ".join(repr(item) for item in measured["missed"]))
    if measured["wrong"]:
        print("flagged wrongly: " + "; ".join(repr(item) for item in measured["wrong"]))
    print(f"words_per_s: {words / seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
