"""Screenshots of the explorer for the README, from the recorded traces (no model needed, except for the
strategies table, which runs the embedded model once).

    python assets/take_screenshots.py [url]     # default: launch the app here on a free port

Writes assets/screenshots/*.png: the outcome of the harbour notes (the answer `paper` changes; `default` keeps it) and its
explanation (evidence, the divergence step, the layer scan), the other views, the walkthrough, and the
page at phone width. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip
DIVERGING = "Harbour notes (the answer changes)"


def launch() -> str:
    from app.ui import build_demo, launch_kwargs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    return f"http://127.0.0.1:{port}/"


def tab(page, name: str, settle: float = 1.5) -> None:
    if not page.get_by_role("tab", name=name).count():  # phone width: the "More tabs" menu
        page.click("#lz-tabs button[aria-label='More tabs']")
        page.locator("#lz-tabs .overflow-dropdown button", has_text=name).first.click()
    else:
        page.get_by_role("tab", name=name).click()
    page.mouse.move(5, 5)  # no hover labels or plot toolbars in the pictures
    time.sleep(settle)


def shot(page, name: str, selector: str | None = None) -> None:
    page.mouse.move(5, 5)
    time.sleep(0.5)
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(OUT / f"{name}.png"))


def load_recorded(page, name: str) -> None:
    tab(page, "Trace files")
    page.locator("#lz-recorded input").click()
    page.get_by_role("option", name=name).click()
    page.wait_for_function("document.querySelector('#lz-status').innerText.includes('Loaded')", timeout=60_000)
    time.sleep(2)


def main(url: str | None = None) -> None:
    url = url or launch()
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        load_recorded(page, DIVERGING)
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "01_outcome")  # the verdict, the texts, time per step, teacher-forced fidelity
        tab(page, "Evidence")
        shot(page, "02_evidence", "#lz-tabs")
        page.click("#lz-jump")  # go to the divergence
        time.sleep(3)
        tab(page, "Token survival")
        shot(page, "03_token_survival_at_the_divergence", "#lz-tabs")
        for i, name in enumerate(("Layer scan", "Importance", "Aux Cache"), 4):
            tab(page, name)
            shot(page, f"{i:02d}_{name.lower().replace(' ', '_')}", "#lz-tabs")
        tab(page, "Strategies")
        page.click("#lz-compare")
        page.wait_for_selector("#lz-status [data-kind=run]", timeout=60_000)  # then the job's own "done"
        page.wait_for_selector("#lz-status [data-kind=done]", timeout=600_000)
        time.sleep(2)
        shot(page, "07_strategies", "#lz-tabs")
        tab(page, "Walkthrough")
        page.click("#lz-next")
        page.click("#lz-next")  # page 3: where to prune, the layer scan of this prompt
        time.sleep(2)
        shot(page, "08_walkthrough", "#lz-tabs")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(url)
        phone.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        time.sleep(2)
        shot(phone, "09_phone")
        browser.close()
    for path in sorted(OUT.glob("*.png")):
        print(path, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
