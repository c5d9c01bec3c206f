"""The report's pages in a real browser: headless Chromium opens each one, and no script on it fails
(Chromium logs every uncaught error as a console message). Skipped where no Chromium is installed."""

import shutil
import subprocess

import pytest

from zarrmatrix.report import build_report

from .test_report import results_dir  # noqa: F401  (the fixture)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def console_errors(page, shot):
    # No background traffic: this machine's closed network refuses it, many connections at a time.
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", "--no-first-run", f"--user-data-dir={shot.parent / '.chromium'}",
                           f"--screenshot={shot}", "--window-size=1400,1000",
                           "--virtual-time-budget=10000", page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.is_file(), done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian: apt-get install chromium)")
def test_pages_open_without_script_errors(results_dir, monkeypatch):  # noqa: F811
    import zarrmatrix.report as report

    reports = results_dir.parent
    build_report(reports)
    assert console_errors(reports / "index.html", reports / "index.png") == []
    monkeypatch.setattr(report, "SITE_SQUARES", 1)
    build_report(reports)
    for page in ("index.html", "history.html", "libraries/zarr.html"):
        assert console_errors(reports / page, reports / "shot.png") == [], page
    # The check itself sees a failing script.
    broken = reports / "broken.html"
    broken.write_text("<html><body><script>notDefinedAnywhere();</script></body></html>")
    assert console_errors(broken, reports / "shot.png")
