"""Project server ingest: releases per second, latency and the server's CPU time per request under
concurrent load from this (second) process on loopback, for fieldkit's server on SQLite and on
PostgreSQL, beside a bare Flask JSON route served by the same WSGI server (waitress, 16 threads) in the
same run.

    python bench/server.py            # last line: ratio: <the lower of fieldkit/bare on the two databases>

Needs PostgreSQL at 127.0.0.1:5432 (trust auth), as the tests do.
"""
import concurrent.futures
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from fieldkit import release

CLIENTS = 16
THREADS = 16
REQUESTS = 3000
ADMIN_PASSWORD = "Projektserver im Lindenviertel"
BARE_APP = """
import sys, waitress
from flask import Flask, jsonify, request
app = Flask("bare")
@app.post("/api/v1/releases")
def bare():
    request.get_json()
    return jsonify({"status": "ok"}), 201
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def documents(count: int) -> list[bytes]:
    """Small, valid, distinct releases: one code each (a realistic release is larger; small ones show
    the per-request cost)."""
    bodies = []
    for number in range(count):
        records = {kind: [] for kind in release.KINDS}
        records["codes"] = [{"id": str(uuid.uuid4()), "label": f"Code {number}", "description": "", "colour": "#123456",
                             "parent_id": None}]
        bodies.append(json.dumps({"format": release.FORMAT, "release_id": str(uuid.uuid4()),
                                  "created": "2026-12-01T10:00:00+00:00", "app_version": "bench",
                                  "sha256": release.content_sha256(records), "records": records,
                                  "counts": {kind: len(rows) for kind, rows in records.items()}}).encode())
    return bodies


def wait_for(port: int, process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the server process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, bodies: list[bytes], token: str, pid: int) -> dict:
    """Every body once, from CLIENTS threads on kept-alive connections: rate, latencies and the server's
    CPU time per request (the server is bound by the interpreter lock: CPU time is what limits it)."""
    batches = [bodies[number::CLIENTS] for number in range(CLIENTS)]

    def client(batch):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies = []
        for body in batch:
            started = time.perf_counter()
            connection.request("POST", "/api/v1/releases", body=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            if response.status not in (200, 201):
                raise SystemExit(f"HTTP {response.status}")
            latencies.append(time.perf_counter() - started)
        connection.close()
        return latencies

    started, cpu_before = time.perf_counter(), cpu_seconds(pid)
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        latencies = sorted(value for values in pool.map(client, batches) for value in values)
    seconds = time.perf_counter() - started
    return {"rate": len(bodies) / seconds, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(len(latencies) * 0.95)] * 1000,
            "cpu": (cpu_seconds(pid) - cpu_before) / len(bodies) * 1e6}


def fieldkit_server(data_dir: Path, database_url: str):
    env = {**os.environ, "FIELDKIT_ADMIN_PASSWORD": ADMIN_PASSWORD}
    if database_url:
        env["FIELDKIT_SERVER_DATABASE_URL"] = database_url
    run = [sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), "server"]
    subprocess.run(run + ["init"], env=env, check=True, capture_output=True)
    added = subprocess.run(run + ["device", "add", "bench", "--json"], env=env, check=True, capture_output=True, text=True)
    port = free_port()
    process = subprocess.Popen(run + ["run", "--port", str(port), "--threads", str(THREADS)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, text=True)
    wait_for(port, process)
    return process, port, json.loads(added.stdout)["token"]


def bare_server():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port), str(THREADS)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, text=True)
    wait_for(port, process)
    return process, port


def stage(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def report(name: str, result: dict) -> None:
    print(f"{name:28s} {result['rate']:7.0f} releases/s   p50 {result['p50']:6.1f} ms   p95 {result['p95']:6.1f} ms"
          f"   server CPU {result['cpu']:4.0f} µs/request")


def main() -> int:
    postgres = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"fieldkit_bench_{uuid.uuid4().hex[:8]}"
    with postgres.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    results = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            stage("bare route")
            bare, bare_port = bare_server()
            load(bare_port, documents(200), "", bare.pid)  # warm up
            results["bare Flask route (before)"] = load(bare_port, documents(REQUESTS), "", bare.pid)
            for label, url in (("fieldkit, SQLite", ""), ("fieldkit, PostgreSQL", f"postgresql://postgres@127.0.0.1:5432/{name}")):
                stage(label)
                process, port, token = fieldkit_server(Path(folder) / label.split()[-1], url)
                load(port, documents(200), token, process.pid)
                results[label] = load(port, documents(REQUESTS), token, process.pid)
                process.terminate()
                process.wait(timeout=30)
            results["bare Flask route (after)"] = load(bare_port, documents(REQUESTS), "", bare.pid)
            bare.terminate()
    finally:
        with postgres.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{REQUESTS} small releases from {CLIENTS} concurrent clients on loopback, waitress with {THREADS} threads:")
    for label, result in results.items():
        report(label, result)
    bare_rate = statistics.mean([results["bare Flask route (before)"]["rate"], results["bare Flask route (after)"]["rate"]])
    ratios = {label: results[label]["rate"] / bare_rate for label in ("fieldkit, SQLite", "fieldkit, PostgreSQL")}
    print("ratio to the bare route: " + ", ".join(f"{label} {value:.2f}" for label, value in ratios.items()))
    print(f"ratio: {min(ratios.values()):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
