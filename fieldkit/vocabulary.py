"""The study's categories (DESIGN.md §3): stored keys with translatable labels."""
from .i18n import N_

OFFER_SCOPES = {"holistic": N_("Holistic"), "specialised": N_("Specialised")}

OFFER_FIELDS = {
    "education": N_("Education"),
    "work": N_("Work"),
    "health_care": N_("Health and care"),
    "everyday_support": N_("Everyday support"),
    "intercultural_exchange": N_("Intercultural exchange"),
}

MEMBERS_BANDS = {"1-25": "1–25", "26-50": "26–50", "51-100": "51–100", "101-200": "101–200", ">200": "> 200"}

REACH = {
    "neighbourhood": N_("Neighbourhood"),
    "city": N_("City"),
    "region": N_("Region"),
    "national": N_("National"),
    "transnational": N_("Transnational"),
}

FUNDING_SOURCES = {
    "mo_funding": N_("MO funding (NRW)"),
    "project_funding": N_("Project funding"),
    "statutory_funding": N_("Statutory funding (SGB)"),
    "donations": N_("Donations"),
    "membership_fees": N_("Membership fees"),
    "prizes": N_("Prizes"),
}

INTERVIEW_STATUSES = {
    "planned": N_("Planned"),
    "consented": N_("Consent recorded"),
    "in_progress": N_("In progress"),
    "completed": N_("Completed"),
    "locked": N_("Locked"),
}

# Sectors of the network map, in the study's order.
ACTOR_TYPES = {
    "migrant_organisation": N_("Migrant organisation"),
    "state_actor": N_("State actor"),
    "association": N_("Association / initiative / centre"),
    "welfare_association": N_("Welfare association"),
    "religious_institution": N_("Religious institution"),
    "educational_institution": N_("Educational institution"),
    "company": N_("Company / profession"),
    "politics": N_("Party / politician"),
}

# Rings of the network map, from the centre outwards.
RINGS = (N_("Very important"), N_("Important"), N_("Less important"), N_("Rather unimportant"))

TIE_TYPES = {
    "cooperation": N_("Cooperation"),
    "conflict": N_("Conflict"),
    "tension": N_("Tension / role conflict"),
    "power_asymmetry": N_("Power asymmetry / one-sided work"),
    "competition": N_("Competition"),
}

# The codebook a new vault starts with: (label, description, colour).
DEFAULT_CODES = (
    (N_("Cooperation"), N_("Working together on equal footing"), "#1b7837"),
    (N_("Conflict"), N_("Open disagreement or dispute"), "#b2182b"),
    (N_("Tension / role conflict"), N_("Conflicting expectations about the organisation's role"), "#e08214"),
    (N_("Power asymmetry / one-sided work"), N_("One side sets the terms or carries the work"), "#542788"),
    (N_("Competition"), N_("Competing for members, funding or recognition"), "#2166ac"),
)
