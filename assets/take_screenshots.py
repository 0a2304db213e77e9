"""Screenshots of the explorer for the README, from the recorded traces (no model needed, except for the
strategies table, which runs the embedded model once).

    python assets/take_screenshots.py [url]     # default: launch the app here on a free port

Writes assets/screenshots/*.png: the outcome of the town founders (the baseline's answer is wrong too, and
`default` parts from it) and its explanation (the Evidence tab's split view: the baseline's most attended
tokens at the split and what LazyLLM did with each; token survival at the divergence step), the layer scan,
importance, the Aux Cache, the strategies table on the same prompt, the walkthrough, and the page at phone
width. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import socket
import sys
import tempfile
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
FOUNDERS = "Town founders (both answers wrong)"  # assets/examples/6_founders.json, recorded in assets/traces/


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
    page.locator("#lz-tabs [role=tablist]").first.get_by_role("tab", name=name, exact=True).click()
    page.mouse.move(5, 5)  # no hover labels or plot toolbars in the pictures
    time.sleep(settle)


def check_clean(page, name: str) -> None:
    """No toast (an error or a warning) and no stale-results note in the picture."""
    toasts = page.locator(".toast-body").all_inner_texts()
    stale = page.inner_text("#lz-stale").strip()
    if toasts or stale:
        raise RuntimeError(f"{name}: toasts {toasts}, stale note {stale!r}")


def shot(page, name: str, selector: str | None = None) -> None:
    page.mouse.move(5, 5)
    time.sleep(0.5)
    check_clean(page, name)
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(OUT / f"{name}.png"))


def shot_down_to(page, name: str, *selectors: str) -> None:
    """The page from its top down to the lowest of `selectors` (the page scrolled to its top)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(5, 5)
    time.sleep(0.5)
    check_clean(page, name)
    boxes = [page.locator(s).bounding_box() for s in selectors]
    bottom = max(b["y"] + b["height"] for b in boxes) + 12
    width = page.viewport_size["width"]
    page.screenshot(
        path=str(OUT / f"{name}.png"), full_page=True, clip={"x": 0, "y": 0, "width": width, "height": bottom}
    )


def load_recorded(page, name: str) -> None:
    tab(page, "Trace files")
    page.locator("#lz-recorded input").click()
    page.get_by_role("option", name=name).click()
    page.wait_for_function(
        "document.querySelector('#lz-status').innerText.includes('Loaded')", timeout=60_000
    )
    time.sleep(2)


def idle_chromium(folder: str) -> str:
    """Debian's chromium at idle CPU priority (SCHED_IDLE; it re-nices its own children, so not nice): its
    drawing must not slow the runs whose timings the pictures show (as in tests/e2e/conftest.py)."""
    path = Path(folder) / "chromium"
    path.write_text('#!/bin/sh\nexec chrt --idle 0 /usr/bin/chromium "$@"\n')
    path.chmod(0o755)
    return str(path)


def main(url: str | None = None) -> None:
    url = url or launch()
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with sync_playwright() as p, tempfile.TemporaryDirectory() as folder:
        browser = p.chromium.launch(executable_path=idle_chromium(folder), args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector("#lz-survival-plot .js-plotly-plot", timeout=60_000)
        load_recorded(page, FOUNDERS)
        page.wait_for_selector("#lz-speed-plot .js-plotly-plot", timeout=30_000)
        page.wait_for_selector("#lz-fidelity-plot .js-plotly-plot", timeout=30_000)
        # the verdict, the texts, time per step, teacher-forced fidelity
        shot_down_to(page, "01_outcome", "#lz-speed-plot", "#lz-fidelity-plot")
        tab(page, "Evidence")  # opens on the split view by itself: the texts part
        page.wait_for_selector("#lz-split-table", timeout=30_000)
        page.wait_for_selector("#lz-split-plot .js-plotly-plot", timeout=30_000)
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
        phone.evaluate("document.querySelector('#lz-tabs').scrollIntoView({block: 'start'})")
        time.sleep(2)
        shot(phone, "09_phone")  # the tabs wrapped onto rows over the token survival plot
        browser.close()
    for path in sorted(OUT.glob("*.png")):
        print(path, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
