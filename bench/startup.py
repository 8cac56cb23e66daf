"""Measure what the foundation promises: `fieldkit serve` → first page served (median of 5), unlock
time at the production Argon2id cost, and the size of the installed environment.

    python bench/startup.py            # prints one line per measurement, last line a summary
"""
import http.cookiejar
import importlib.metadata as metadata
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from packaging.requirements import Requirement

PASSPHRASE = "Benchmark im Lindenviertel"
RUNS = 5


def first_page_seconds(data_dir: Path) -> float:
    """Seconds from starting `fieldkit serve` to the first page answered with 200."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "fieldkit", "--data-dir", str(data_dir), "serve"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = next(line.strip() for line in process.stdout if line.startswith("http://127.0.0.1:"))
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(url) as response:  # launch URL → cookie → redirect to the first page
            assert response.status == 200 and b"<html" in response.read()
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=10)


def unlock_seconds(data_dir: Path) -> tuple[float, dict]:
    """Median unlock time at the production cost, and the KDF parameters calibration chose."""
    from fieldkit import config
    from fieldkit.vault import Vault, new_project_identity

    vault = Vault.from_settings(data_dir, config.DEFAULTS)
    if not vault.exists:
        vault.create(PASSPHRASE, [new_project_identity()[1]])
    vault.lock()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        vault.unlock(PASSPHRASE)
        times.append(time.perf_counter() - started)
        vault.lock()
    kdf = vault.keystore().kdf
    return statistics.median(times), {"memory_kib": kdf.memory_kib, "iterations": kdf.iterations, "lanes": kdf.lanes}


def installed_size(root: str, extras: tuple[str, ...] = ()) -> tuple[int, int]:
    """Bytes on disk of a distribution and everything it requires (with the given extras): (bytes, count)."""
    seen, queue, total = set(), [(root, extras)], 0
    while queue:
        name, wanted = queue.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if key in seen:
            continue
        seen.add(key)
        for file in dist.files or ():
            path = Path(dist.locate_file(file))
            if path.is_file():
                total += path.stat().st_size
        for requirement in map(Requirement, dist.requires or ()):
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in wanted or ("",)):
                queue.append((requirement.name, tuple(requirement.extras)))
    return total, len(seen)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        unlock, kdf = unlock_seconds(data_dir)  # also leaves a vault, so serve shows the unlock page
        first_pages = [first_page_seconds(data_dir) for _ in range(RUNS)]
    core, core_count = installed_size("fieldkit")
    desktop, desktop_count = installed_size("fieldkit", ("desktop",))
    print(f"first page after `fieldkit serve`: median {statistics.median(first_pages) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in first_pages)} ms)")
    print(f"unlock: median {unlock * 1000:.0f} ms at Argon2id {kdf}")
    print(f"installed: core {core / 2**20:.0f} MiB in {core_count} distributions; "
          f"with the desktop window {desktop / 2**20:.0f} MiB in {desktop_count}")
    print(f"summary: first_page_ms={statistics.median(first_pages) * 1000:.0f} unlock_ms={unlock * 1000:.0f} "
          f"core_mib={core / 2**20:.0f} desktop_mib={desktop / 2**20:.0f}")


if __name__ == "__main__":
    os.environ.pop("FIELDKIT_ARGON2_MEMORY_KIB", None)
    os.environ.pop("FIELDKIT_ARGON2_ITERATIONS", None)
    main()
