"""Demo data: two fictional organisations shaped like the seed study's two case studies, so a
newcomer sees real screens at once. Everything here is invented and marked "(Demo)"."""
import datetime as dt

from sqlmodel import Session

from .i18n import translate
from .local_settings import set_setting
from .interviews import ensure_shipped_content
from . import maps, network
from .models import Answer, Interview, Organisation, Quote, QuoteCode, SharedRecord, save
from .quotes import codebook, link_quote
from .vocabulary import DEFAULT_CODES

DEMO_PASSPHRASE = "Demo-Passphrase fuer fieldkit"
DEMO_MARK = "(Demo)"

WOMENS_GROUP = dict(
    name=f"Frauentreff Lindenviertel {DEMO_MARK}", city="Musterstadt", founded=2011,
    offers_scope="holistic", offer_fields=["everyday_support", "intercultural_exchange", "health_care"],
    practices_formal=2, practices_informal=5, staff_volunteer=14, staff_paid=0, members_band="26-50",
    target_groups=["Frauen mit Einwanderungsgeschichte", "neu zugewanderte Familien"], reach="neighbourhood",
    funding_sources=["donations", "membership_fees"],
    notes="Ehrenamtlich getragener Treff. Unterstützung läuft vor allem informell über persönliche "
          "Kontakte: Begleitung zu Ämtern, gegenseitige Kinderbetreuung, Übersetzen von Briefen.",
)
EDUCATION_ASSOCIATION = dict(
    name=f"Bildungsbrücke Musterstadt e. V. {DEMO_MARK}", city="Musterstadt", founded=1998,
    offers_scope="specialised", offer_fields=["education", "work"],
    practices_formal=5, practices_informal=3, staff_volunteer=25, staff_paid=9, members_band="101-200",
    target_groups=["Schülerinnen und Schüler", "Eltern", "junge Erwachsene im Übergang Schule–Beruf"],
    reach="city", funding_sources=["mo_funding", "project_funding", "statutory_funding", "prizes"],
    notes="Professionalisierter Verein mit hauptamtlicher Geschäftsstelle; Hausaufgabenhilfe, "
          "Elternberatung und Bewerbungstrainings, finanziert über Projektmittel und Landesförderung.",
)

# (label, actor type, ring 1–4) per alter; ties as (alter label or None for ego, alter label, type).
WOMENS_GROUP_MAP = (
    [("Nachbarschaftszentrum Lindenplatz", "association", 1), ("Moscheegemeinde Musterstadt", "religious_institution", 1),
     ("Jobcenter Musterstadt", "state_actor", 2), ("Caritas-Migrationsberatung", "welfare_association", 2),
     ("Grundschule am Park", "educational_institution", 3), ("Integrationsrat", "politics", 4)],
    [(None, "Nachbarschaftszentrum Lindenplatz", "cooperation"), (None, "Jobcenter Musterstadt", "power_asymmetry"),
     (None, "Caritas-Migrationsberatung", "tension"), (None, "Moscheegemeinde Musterstadt", "cooperation"),
     ("Nachbarschaftszentrum Lindenplatz", "Grundschule am Park", "cooperation")],
)
EDUCATION_MAP = (
    [("Kommunales Integrationszentrum", "state_actor", 1), ("Schulamt Musterstadt", "state_actor", 2),
     ("Volkshochschule", "educational_institution", 2), ("Diakonie Jugendmigrationsdienst", "welfare_association", 2),
     ("Elternnetzwerk Musterstadt", "migrant_organisation", 1), ("Stiftung der Stadtsparkasse", "company", 3),
     ("Ratsfraktion", "politics", 4), ("Lernhilfe Nord e. V.", "association", 3)],
    [(None, "Kommunales Integrationszentrum", "cooperation"), (None, "Schulamt Musterstadt", "power_asymmetry"),
     (None, "Elternnetzwerk Musterstadt", "cooperation"), (None, "Lernhilfe Nord e. V.", "competition"),
     (None, "Diakonie Jugendmigrationsdienst", "cooperation"), ("Volkshochschule", "Lernhilfe Nord e. V.", "cooperation")],
)

CONSENT = {"by": "Vorsitzende (Demo)", "how": "written", "date": "2026-10-14",
           "agreed": {"recording": True, "quotes": True, "network_map": True, "archiving": False}}


def create_demo_data(session: Session, device_id: str) -> None:
    """Add the demo organisations, interviews, codebook, quotes and network maps to an open vault."""
    def add(record: SharedRecord) -> SharedRecord:
        return save(session, device_id, record)

    ensure_shipped_content(session, device_id)
    codes = {code.label: code for code in codebook(session)}
    cooperation, power_asymmetry = (codes[translate(DEFAULT_CODES[index][0])] for index in (0, 3))

    women = add(Organisation(**WOMENS_GROUP, is_demo=True))
    talk = add(Interview(organisation_id=women.id, interviewer="Demo-Interviewerin", date=dt.date(2026, 10, 14),
                         place="Vereinsraum (Demo)", guide_id="mikoss", guide_version="1.0", status="in_progress",
                         consent=CONSENT, section_seconds={"organisation": 840, "practices": 1620}))
    answer = add(Answer(interview_id=talk.id, question_id="practices.informal", covered=True,
                        text="Wenn eine Frau einen Brief vom Amt bekommt, kommt sie zu uns. Wir gehen dann "
                             "zusammen hin. Das Jobcenter sieht uns aber nicht als Partner, wir machen die Arbeit "
                             "nebenbei."))
    unequal = _add_quote(add, talk, answer, "Das Jobcenter sieht uns aber nicht als Partner, wir machen die Arbeit nebenbei.",
                         power_asymmetry)
    ties = _add_map(session, device_id, talk, "Netzwerk heute", *WOMENS_GROUP_MAP)
    link_quote(session, device_id, talk, unequal, ties[(None, "Jobcenter Musterstadt")])
    talk.status = "completed"
    add(talk)

    school = add(Organisation(**EDUCATION_ASSOCIATION, is_demo=True))
    visit = add(Interview(organisation_id=school.id, interviewer="Demo-Interviewer", date=dt.date(2026, 11, 3),
                          place="Geschäftsstelle (Demo)", guide_id="mikoss", guide_version="1.0", status="in_progress",
                          consent={**CONSENT, "by": "Geschäftsführer (Demo)", "how": "verbal", "date": "2026-11-03"}))
    role = add(Answer(interview_id=visit.id, question_id="self_image.role",
                      text="Wir verstehen uns als Scharnier zwischen den Familien, den Schulen und der Stadtverwaltung. "
                           "Mit dem Kommunalen Integrationszentrum planen wir die Elternabende gemeinsam."))
    together = _add_quote(add, visit, role, "Mit dem Kommunalen Integrationszentrum planen wir die Elternabende gemeinsam.",
                          cooperation)
    ties = _add_map(session, device_id, visit, "Netzwerk heute", *EDUCATION_MAP)
    link_quote(session, device_id, visit, together, ties[(None, "Kommunales Integrationszentrum")])

    set_setting(session, "demo", True)


def _add_quote(add, interview: Interview, answer: Answer, passage: str, code) -> Quote:
    start = answer.text.index(passage)
    quote = add(Quote(interview_id=interview.id, answer_id=answer.id, start=start, end=start + len(passage), text=passage))
    add(QuoteCode(quote_id=quote.id, code_id=code.id))
    return quote


def _add_map(session: Session, device_id: str, interview: Interview, title: str, alters: list, ties: list) -> dict:
    """Draw a map the way an interviewer would, so its replay shows each step; the ties' ids by
    (first end's label or None for the organisation, second end's label)."""
    network_map = maps.create(session, device_id, interview, title)
    sectors = [sector["id"] for sector in maps.config_of(network_map)["sectors"]]
    ids = {}
    for index, (label, actor_type, ring) in enumerate(alters):
        # spread the contacts of one sector a little, so none hides another
        x, y = network.position(ring - 0.5, sectors.index(actor_type) + 0.3 + 0.4 * (index % 2), 4, len(sectors))
        step = maps.change(session, device_id, interview, network_map, {"action": "add_alter", "alter": {
            "label": label, "actor_type": actor_type, "x": x, "y": y}})
        ids[label] = step["steps"][0]["record"]["id"]
    drawn = {}
    for source, target, tie_type in ties:
        step = maps.change(session, device_id, interview, network_map, {"action": "add_tie", "tie": {
            "source_id": ids.get(source), "target_id": ids[target], "type": tie_type,
            "direction": "forward" if tie_type == "power_asymmetry" else "undirected"}})
        drawn[(source, target)] = step["steps"][0]["record"]["id"]
    return drawn
