"""Install pip into the running (bare) virtualenv from the newest pip wheel on PyPI.

Used only when `python3 -m venv` cannot install pip itself (Debian/Ubuntu without python3-venv).
A pip wheel can run itself: `python pip.whl/pip install pip`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request


def main() -> None:
    with urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60) as resp:
        release = json.load(resp)
    wheel = next(f for f in release["urls"] if f["filename"].endswith(".whl"))
    path = os.path.join(tempfile.mkdtemp(), wheel["filename"])
    urllib.request.urlretrieve(wheel["url"], path)
    subprocess.check_call([sys.executable, os.path.join(path, "pip"), "install", "--quiet", path])


if __name__ == "__main__":
    main()
