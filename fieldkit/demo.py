"""Demo data: two fictional organisations shaped like the seed study's two case studies, so a
newcomer sees real screens at once. Everything here is invented and marked "(Demo)"."""
import datetime as dt
import math

from sqlmodel import Session

from .i18n import translate
from .local_settings import set_setting
from .interviews import ensure_shipped_content
from .models import (Alter, Answer, Interview, MapEvent, NetworkMap, Organisation, Quote, QuoteCode,
                     SharedRecord, Tie, save)
from .quotes import codebook
from .vocabulary import ACTOR_TYPES, DEFAULT_CODES, RINGS

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
    power_asymmetry = next(c for c in codebook(session) if c.label == translate(DEFAULT_CODES[3][0]))

    women = add(Organisation(**WOMENS_GROUP, is_demo=True))
    talk = add(Interview(organisation_id=women.id, interviewer="Demo-Interviewerin", date=dt.date(2026, 10, 14),
                         place="Vereinsraum (Demo)", guide_id="mikoss", guide_version="1.0", status="completed",
                         consent=CONSENT, section_seconds={"organisation": 840, "practices": 1620}))
    answer = add(Answer(interview_id=talk.id, question_id="practices.informal", covered=True,
                        text="Wenn eine Frau einen Brief vom Amt bekommt, kommt sie zu uns. Wir gehen dann "
                             "zusammen hin. Das Jobcenter sieht uns aber nicht als Partner, wir machen die Arbeit "
                             "nebenbei."))
    passage = "Das Jobcenter sieht uns aber nicht als Partner, wir machen die Arbeit nebenbei."
    quote = add(Quote(interview_id=talk.id, answer_id=answer.id, start=answer.text.index(passage),
                      end=answer.text.index(passage) + len(passage), text=passage))
    add(QuoteCode(quote_id=quote.id, code_id=power_asymmetry.id))
    _add_map(add, talk.id, "Netzwerk heute", *WOMENS_GROUP_MAP)

    school = add(Organisation(**EDUCATION_ASSOCIATION, is_demo=True))
    visit = add(Interview(organisation_id=school.id, interviewer="Demo-Interviewer", date=dt.date(2026, 11, 3),
                          place="Geschäftsstelle (Demo)", guide_id="mikoss", guide_version="1.0", status="in_progress",
                          consent={**CONSENT, "by": "Geschäftsführer (Demo)", "how": "verbal", "date": "2026-11-03"}))
    add(Answer(interview_id=visit.id, question_id="self_image.role",
               text="Wir verstehen uns als Scharnier zwischen den Familien, den Schulen und der Stadtverwaltung."))
    _add_map(add, visit.id, "Netzwerk heute", *EDUCATION_MAP)

    set_setting(session, "demo", True)


def _add_map(add, interview_id: str, title: str, alters: list, ties: list) -> None:
    network_map = add(NetworkMap(interview_id=interview_id, title=title, rings=[translate(r) for r in RINGS],
                                 sectors=list(ACTOR_TYPES)))
    sectors = list(ACTOR_TYPES)
    by_label = {}
    for label, actor_type, ring in alters:
        x, y = _position(ring, sectors.index(actor_type), len(sectors), len(RINGS))
        alter = add(Alter(map_id=network_map.id, label=label, actor_type=actor_type, x=x, y=y))
        by_label[label] = alter
        add(MapEvent(map_id=network_map.id, action="alter.add",
                     payload={"id": alter.id, "label": label, "actor_type": actor_type, "x": x, "y": y}))
    for source, target, tie_type in ties:
        tie = add(Tie(map_id=network_map.id, source_id=by_label[source].id if source else None,
                      target_id=by_label[target].id, type=tie_type))
        add(MapEvent(map_id=network_map.id, action="tie.add",
                     payload={"id": tie.id, "source": tie.source_id, "target": tie.target_id, "type": tie_type}))


def _position(ring: int, sector: int, sectors: int, rings: int) -> tuple[float, float]:
    """The middle of a ring's band in the middle of a sector (ego at 0,0, outer edge at radius 1)."""
    angle = (sector + 0.5) * 2 * math.pi / sectors
    radius = (ring - 0.5) / rings
    return round(radius * math.cos(angle), 4), round(radius * math.sin(angle), 4)
