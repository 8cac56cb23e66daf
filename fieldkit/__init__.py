"""fieldkit: the laptop app for expert interviews and network maps with migrant organisations."""

__version__ = "0.1.0"


def create_app(test_config=None):
    """The laptop app (fieldkit/app.py). Flask and the database layer load only here, so a command that
    needs neither (`fieldkit --help`) starts at once."""
    from .app import create_app as create

    return create(test_config)
