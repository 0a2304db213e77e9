"""Screenshots of the main views for the README, from a recorded trace (no model needed).

    python assets/take_screenshots.py [url]     # default: launch the app here on a free port

Writes assets/screenshots/*.png. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def launch() -> str:
    from app.ui import build_demo, launch_kwargs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo()
    demo.queue()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs()
    )
    return f"http://127.0.0.1:{port}/"


def tab(page, name: str, settle: float = 1.5) -> None:
    page.get_by_role("tab", name=name).click()
    page.mouse.move(5, 5)
    time.sleep(settle)


def main(url: str | None = None) -> None:
    url = url or launch()
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector("#lz-status [data-kind=done]", timeout=60_000)
        page.click("text=Use the example's answer")
        time.sleep(3)
        page.mouse.move(5, 5)  # no hover labels or plot toolbars in the pictures
        page.evaluate("window.scrollTo(0, 0)")
        time.sleep(0.5)
        page.screenshot(path=str(OUT / "01_run_and_results.png"))
        tabs = page.locator("#lz-tabs")
        for i, name in enumerate(("Token survival", "Importance", "Evidence", "Aux Cache"), 2):
            tab(page, name)
            tabs.screenshot(path=str(OUT / f"{i:02d}_{name.lower().replace(' ', '_')}.png"))
        tab(page, "Walkthrough")
        for _ in range(4):  # page 5: a decode step revives a token
            page.click("#lz-next")
            time.sleep(1)
        page.mouse.move(5, 5)
        tabs.screenshot(path=str(OUT / "06_walkthrough.png"))
        browser.close()
    for path in sorted(OUT.glob("*.png")):
        print(path, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
