"""A worker's app is out of the garbage collector's sight once built, and young collections are rarer
(smartbot/ops/collector.py): what a full collection walks, and so how long it pauses every request
of the worker, no longer grows with the app."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from smartbot.ops import collector

REPO = Path(__file__).resolve().parent.parent

_WORKER = textwrap.dedent("""
    import gc, json
    from smartbot import create_app
    from smartbot.ops import collector
    app = create_app(start_workers=False)
    walked_before = len(gc.get_objects())
    collector.settle_worker()
    print(json.dumps({"before": walked_before, "after": len(gc.get_objects()), "frozen": gc.get_freeze_count(),
                      "threshold": gc.get_threshold(), "app": app.name}))
""")


def test_settling_a_worker_takes_its_app_out_of_what_full_collections_walk(tmp_path):
    config = tmp_path / "smartbot.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "c.db"}"\n')
    out = subprocess.run([sys.executable, "-c", _WORKER], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "SMARTBOT_CONFIG": str(config),
                              "SMARTBOT_SECRET_KEY": "x" * 48, "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] > 50_000                       # a built app: tens of thousands of objects
    assert seen["after"] < seen["before"] // 20          # left for the collector to walk
    assert seen["frozen"] >= seen["before"] * 0.9
    assert tuple(seen["threshold"]) == (collector.YOUNG_THRESHOLD, collector.MIDDLE_THRESHOLD, collector.OLD_THRESHOLD)
