"""Sending releases to the project server (DESIGN.md §8), whenever a network is there.

Every release written enters a queue kept in the vault: pending → sending → sent, or refused for good
when the server says the release itself is wrong (a 4xx answer), with the server's reason. A failed
attempt (no network, server down, 5xx) is tried again later, waiting twice as long each time (with
jitter, at most an hour). TLS certificates are verified; a pinned SHA-256 fingerprint of the server's
certificate can be required; plain HTTP is accepted only for a loopback address.
"""
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from sqlmodel import Session, select

from . import db
from .errors import UserError
from .i18n import N_
from .local_settings import get_setting, set_setting
from .models import AuditEvent, Release, SyncJob, utcnow
from .periodic import Periodic

log = logging.getLogger("fieldkit.sync")
BASE_DELAY = 30  # seconds before the first retry
MAX_DELAY = 3600
TIMEOUT = 30
PERMANENT = {400, 401, 403, 404, 409, 413, 415, 422}  # the server refuses the release or the device for good
STATUSES = {"pending": N_("waiting"), "sending": N_("sending"), "sent": N_("sent"), "refused": N_("refused")}


class SyncError(UserError):
    message = N_("Synchronisation is not possible.")


@dataclass
class ServerAnswer:
    status: int
    body: dict


@dataclass
class Settings:
    url: str
    token: str
    pin: str = ""  # SHA-256 of the server certificate (DER), hex; empty: any certificate the system trusts


def settings(session: Session) -> Optional[Settings]:
    stored = get_setting(session, "sync")
    return Settings(**stored) if stored else None


def configure(session: Session, device_id: str, url: str, token: str, pin: str = "") -> Settings:
    """Where releases go: the server's address, this device's token (kept in the vault), an optional pin."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SyncError(N_("The server address must start with https:// (e.g. https://fieldkit.example.org)."))
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise SyncError(N_("Plain http:// is only allowed for this computer itself (127.0.0.1 or localhost); use https://."))
    token = token.strip()
    if not token or len(token) > 200 or any(c.isspace() for c in token):
        raise SyncError(N_("Enter the device token the server administrator gave you."))
    pin = pin.strip().replace(":", "").lower()
    if pin and (len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin)):
        raise SyncError(N_("A pinned certificate fingerprint is 64 hexadecimal digits (SHA-256)."))
    chosen = Settings(url, token, pin)
    set_setting(session, "sync", chosen.__dict__)
    session.add(AuditEvent(action="sync.setup", origin_device=device_id, detail={"url": url, "pinned": bool(pin)}))
    return chosen


def enqueue(session: Session, release: Release) -> SyncJob:
    job = session.get(SyncJob, release.id) or SyncJob(release_id=release.id, sha256=release.sha256)
    session.add(job)
    return job


def jobs(session: Session) -> list[SyncJob]:
    return list(session.exec(select(SyncJob).order_by(SyncJob.created_at.desc())))


def due(session: Session, now: dt.datetime) -> list[SyncJob]:
    """Jobs to try now: waiting ones whose time has come, and ones left 'sending' by a crash."""
    return [job for job in session.exec(select(SyncJob).where(SyncJob.status.in_(("pending", "sending"))).order_by(
        SyncJob.created_at)) if job.status == "sending" or _aware(job.next_attempt_at) <= now]


def last_success(session: Session) -> Optional[str]:
    return get_setting(session, "sync_last_success")


def run(engine, directory_of: Callable[[str], Optional[Path]] = None, progress: Callable[[SyncJob, str], None] = None,
        now: Optional[dt.datetime] = None, rng: random.Random = random.Random()) -> dict:
    """Send every due release once, each in transactions of its own (so a crash loses no answer):
    returns how many were sent, refused and left for later."""
    now = now or utcnow()
    with Session(engine) as session:
        chosen = settings(session)
        if chosen is None:
            raise SyncError(N_("No project server is set up yet (Settings → Synchronisation, or `fieldkit sync setup`)."))
        waiting = [(job.release_id, job.attempts) for job in due(session, now)]
        paths = {release.id: Path(release.directory) for release in session.exec(select(Release))}
    client = Client(chosen)
    summary = {"sent": 0, "refused": 0, "retry": 0}
    for release_id, attempts in waiting:
        with db.writing(engine) as session:
            session.get(SyncJob, release_id).status = "sending"
        outcome, reason = _send_one(client, paths.get(release_id))
        with db.writing(engine) as session:
            job = session.get(SyncJob, release_id)
            _record(session, job, outcome, reason, now, rng)
        summary[outcome] += 1
        if progress:
            progress(job, outcome)
    return summary


def _send_one(client: "Client", folder: Optional[Path]) -> tuple[str, str]:
    """('sent' | 'refused' | 'retry', reason)."""
    document = folder / "release-document.json" if folder else None
    if document is None or not document.is_file():
        return "refused", "the release's files are missing on this laptop"
    try:
        answer = client.post_release(document.read_bytes())
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        return "retry", _reason(error)
    except PinMismatch as error:
        return "retry", str(error)
    if answer.status in (200, 201):
        return "sent", ""
    reason = str(answer.body.get("error") or f"HTTP {answer.status}")[:300]
    return ("refused" if answer.status in PERMANENT else "retry"), reason


def _record(session: Session, job: SyncJob, outcome: str, reason: str, now: dt.datetime, rng: random.Random) -> None:
    job.attempts += 1
    job.last_error = reason
    if outcome == "sent":
        job.status, job.sent_at = "sent", now
        set_setting(session, "sync_last_success", now.isoformat())
    elif outcome == "refused":
        job.status = "refused"
    else:
        job.status = "pending"
        job.next_attempt_at = now + dt.timedelta(seconds=backoff(job.attempts, rng))
    session.add(job)
    session.add(AuditEvent(action=f"sync.{outcome}", origin_device="", detail={"release": job.release_id,
                                                                               "attempt": job.attempts, "reason": reason}))


def backoff(attempts: int, rng: random.Random) -> float:
    """Seconds to wait after `attempts` failures: doubling from 30 s up to an hour, ±50 % jitter so many
    laptops coming back online do not all knock at once."""
    return min(MAX_DELAY, BASE_DELAY * 2 ** (attempts - 1)) * rng.uniform(0.5, 1.5)


def _reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {error.verify_message}"
    if isinstance(error, (ConnectionRefusedError, socket.timeout, TimeoutError)):
        return "server not reachable"
    if isinstance(error, socket.gaierror):
        return "server name not found (no network?)"
    return f"{type(error).__name__}: {str(error)[:200]}"


def _aware(moment: Optional[dt.datetime]) -> dt.datetime:
    if moment is None:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PinMismatch(Exception):
    pass


class Client:
    """HTTP(S) to the project server with the device token; verifies TLS, and the pin if one is set."""

    def __init__(self, chosen: Settings, timeout: float = TIMEOUT):
        self.settings, self.timeout = chosen, timeout
        parts = urlsplit(chosen.url)
        self.https, self.host, self.base = parts.scheme == "https", parts.hostname, parts.path.rstrip("/")
        self.port = parts.port or (443 if self.https else 80)
        if not self.https and not _loopback(self.host):
            raise SyncError(N_("Plain http:// is only allowed for this computer itself (127.0.0.1 or localhost); use https://."))

    def post_release(self, body: bytes) -> ServerAnswer:
        connection = self._connect()
        try:
            connection.request("POST", f"{self.base}/api/v1/releases", body=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.settings.token}",
                "User-Agent": "fieldkit-sync"})
            response = connection.getresponse()
            data = response.read(1024 * 1024)
        finally:
            connection.close()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {}
        return ServerAnswer(response.status, parsed if isinstance(parsed, dict) else {})

    def health(self) -> bool:
        try:
            connection = self._connect()
            connection.request("GET", f"{self.base}/api/v1/health")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except (OSError, http.client.HTTPException, PinMismatch):
            return False

    def _connect(self) -> http.client.HTTPConnection:
        if not self.https:
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                 context=ssl.create_default_context())
        connection.connect()
        if self.settings.pin:
            certificate = connection.sock.getpeercert(binary_form=True)
            if hashlib.sha256(certificate).hexdigest() != self.settings.pin:
                connection.close()
                raise PinMismatch("the server's certificate does not match the pinned fingerprint")
        return connection


class SyncWorker(Periodic):
    """Tries the queue while the app runs: every minute, when the vault is open and a server is set up."""

    def __init__(self, vault, interval: float = 60):
        super().__init__("fieldkit-sync", interval)
        self.vault = vault

    def round(self) -> None:
        if self.vault.is_unlocked:
            with Session(self.vault.engine) as session:
                waiting = settings(session) is not None and due(session, utcnow())
            if waiting:
                run(self.vault.engine)
