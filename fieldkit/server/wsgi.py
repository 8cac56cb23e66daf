"""The project server for WSGI servers that run several worker processes, e.g.
`gunicorn --preload -w 4 -b 127.0.0.1:8080 'fieldkit.server.wsgi:app'`. The data directory comes from
FIELDKIT_DATA_DIR, the database from FIELDKIT_SERVER_DATABASE_URL; run `fieldkit server init` first."""
from . import create_server_app

app = create_server_app()
