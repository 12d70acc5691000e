"""Headless Debian Chromium driven by Playwright (no browser download: the OS package is used)."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "screenshots"      # tests/screenshots/, ignored by git
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Debian's chromium package is not installed here (scripts/test.sh installs it as root)")
    return path


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def launched() -> Iterator[Any]:
    """A headless Chromium for one test (skips when the OS package is missing)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def watch_console(page) -> list[str]:
    """The page's console errors and Content-Security-Policy violations, as they happen (a script
    or style the policy blocked is reported on the console and as a `securitypolicyviolation` event)."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    page.add_init_script("document.addEventListener('securitypolicyviolation', function (e) {"
                         " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });")
    return problems


def csp_violations(problems: list[str]) -> list[str]:
    return [p for p in problems if "Content Security Policy" in p or "CSP violation" in p]
