"""The guide editor over HTTP on a real SQLCipher vault: opening a draft of 20 sections with 200 questions
(scales, choices, probes, German and English), and saving one typed edit; median of 20 each.

    python bench/guide_editor.py            # last line: open_ms: <median>
Goal: < 200 ms to open, < 50 ms per saved edit.
"""
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autosave import Client  # noqa: E402

from fieldkit import create_app, db, guide_editor  # noqa: E402
from fieldkit.local_server import LocalServer  # noqa: E402
from fieldkit.vault import new_project_identity  # noqa: E402

SECTIONS, QUESTIONS, RUNS = 20, 10, 20


def big_model() -> dict:
    """20 sections of 10 questions: every third a scale, every fifth a choice, each with two probes."""
    model = {"id": "gross", "version": "1", "languages": ["de", "en"], "title": {"de": "Großer Leitfaden", "en": "Big guide"},
             "sections": []}
    for s in range(SECTIONS):
        section = guide_editor.add_item(model, "sections")
        model["sections"][s]["questions"] = []
        guide_editor.set_field(model, f"{section}.title.de", f"Abschnitt {s + 1} über Zusammenarbeit und Förderung")
        guide_editor.set_field(model, f"{section}.title.en", f"Section {s + 1} on cooperation and funding")
        for q in range(QUESTIONS):
            question = guide_editor.add_item(model, f"{section}.questions")
            guide_editor.set_field(model, f"{question}.text.de", f"Wie erleben Sie die Zusammenarbeit im Bereich {s}.{q}?")
            guide_editor.set_field(model, f"{question}.text.en", f"How do you experience cooperation in field {s}.{q}?")
            for _ in range(2):
                probe = guide_editor.add_item(model, f"{question}.probes")
                guide_editor.set_field(model, f"{probe}.de", "Können Sie ein Beispiel nennen?")
                guide_editor.set_field(model, f"{probe}.en", "Could you give an example?")
            if q % 3 == 0:
                guide_editor.set_type(model, question, "scale")
                for point in (1, 5):
                    guide_editor.set_field(model, f"{question}.scale.labels.{point}.de", "gar nicht" if point == 1 else "sehr")
                    guide_editor.set_field(model, f"{question}.scale.labels.{point}.en", "not at all" if point == 1 else "very")
            elif q % 5 == 1:
                guide_editor.set_type(model, question, "single")
                guide_editor.add_item(model, f"{question}.options")
                for o, (de, en) in enumerate((("Ja", "Yes"), ("Nein", "No"))):
                    guide_editor.set_field(model, f"{question}.options.{o}.label.de", de)
                    guide_editor.set_field(model, f"{question}.options.{o}.label.en", en)
    guide_editor.check(model)
    return model


def main() -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        app = create_app({"DATA_DIR": Path(scratch), "ARGON2_MEMORY_KIB": 8192, "ARGON2_ITERATIONS": 1, "SYNC_INTERVAL": 0})
        vault = app.extensions["vault"]
        vault.create("Leitfaden im Lindenviertel", [new_project_identity()[1]])
        with db.writing(vault.engine) as session:
            draft = guide_editor.new_draft(session)
            guide_editor.save_draft(session, draft, big_model())
            draft_id = draft.id
        server = LocalServer(app)
        server.start()
        client = Client(server, f"/guides/drafts/{draft_id}/field", True)
        opens, edits = [], []
        for run in range(RUNS + 1):
            started = time.perf_counter()
            client.connection.request("GET", f"/guides/drafts/{draft_id}", headers={"Cookie": client.headers["Cookie"]})
            response = client.connection.getresponse()
            page = response.read()
            if run:  # the first opening warms the template cache
                opens.append(time.perf_counter() - started)
            assert response.status == 200 and len(re.findall(rb'class="editor-question"', page)) == SECTIONS * QUESTIONS
            started = time.perf_counter()
            client.connection.request("POST", client.path, headers=client.headers,
                                      body=urlencode({"path": "sections.7.questions.3.text.de", "value": f"Wie erleben Sie das, Runde {run}?"}))
            response = client.connection.getresponse()
            assert response.status == 200 and b"saved" in response.read()
            if run:
                edits.append(time.perf_counter() - started)
        server.shutdown()
        vault.lock()
    print(f"page of {len(page) / 1024:.0f} KiB for {SECTIONS} sections, {SECTIONS * QUESTIONS} questions")
    print(f"open the editor: median {statistics.median(opens) * 1000:.0f} ms (max {max(opens) * 1000:.0f})  goal < 200 ms")
    print(f"save one edit: median {statistics.median(edits) * 1000:.1f} ms (max {max(edits) * 1000:.1f})  goal < 50 ms")
    print(f"open_ms: {statistics.median(opens) * 1000:.0f}")


if __name__ == "__main__":
    main()
