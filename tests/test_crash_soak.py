"""The crash soak as a test: 20 SIGKILLs of `fieldkit serve` while notes autosave and a map is drawn
over HTTP; every acknowledged save is there after each restart, and the integrity checks pass
(bench/crash_soak.py runs the same harness 200 times)."""
import importlib.util
import random


def test_no_acknowledged_save_is_lost_across_twenty_kills(tmp_path, repo_root):
    spec = importlib.util.spec_from_file_location("crash_soak", repo_root / "bench" / "crash_soak.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    lines = []
    totals = harness.soak(20, tmp_path / "vault", random.Random(5), report=lines.append)
    assert totals["kills"] == 20 and totals["acknowledged"] > 100, lines
    assert totals["lost"] == 0 and totals["unclean"] == 0, lines
