"""bench/organization.py still runs against the current scanner: a 2-account organization
in two regions is scanned through assumed roles with every shard's expected mix, and the
same calls in two accounts are not counted as duplicates (about 10 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "organization.py"


def test_the_organization_bench_scans_every_shard_right() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--accounts", "2", "--scale", "5", "--executor", "local"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count("expected mix        OK in all 4 (account, region) shards") == 2
    assert "report complete     True" in out
    duplicates = next(line for line in out.splitlines() if "duplicate requests = 0" in line)
    assert duplicates.split() == ["duplicate", "requests", "=", "0", "0", "PASS"]
    assert out.rstrip().endswith("correctness         PASS")
