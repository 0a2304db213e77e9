() => {
  // A click in the column of a step of the fidelity chart opens that step: the step number (read from
  // the chart's x axis at the click) goes into the hidden #lz-jump-to box, then the hidden #lz-jump-go
  // button's click moves the step slider and every step-aware view there (app/wiring.py).
  document.addEventListener("click", (event) => {
    const plot = event.target.closest && event.target.closest("#lz-fidelity-plot");
    const gd = plot && plot.querySelector(".js-plotly-plot");
    const xa = gd && gd._fullLayout && gd._fullLayout.xaxis;
    if (!xa || !gd.data || !gd.data.length) return;
    const box = gd.getBoundingClientRect();
    const step = Math.round(xa.p2l(event.clientX - box.left - xa._offset));
    const last = (gd.data[0].x || []).length - 1;
    if (!Number.isFinite(step) || step < 0 || step > last) return;
    const input = document.querySelector("#lz-jump-to textarea, #lz-jump-to input");
    if (!input) return;
    input.value = String(step);
    input.dispatchEvent(new Event("input", { bubbles: true }));  // the box's value, as typed
    const go = document.querySelector("#lz-jump-go");
    if (go) setTimeout(() => go.click(), 50);
  });
  // The verdict's "Why it changed" link (app/markup.py verdict_html) opens the Evidence tab at its first
  // view, the baseline's attention at the split, and scrolls to it.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.lz-to-split");
    if (!link) return;
    event.preventDefault();
    const tab = [...document.querySelectorAll("#lz-tabs [role=tab], #lz-tabs .overflow-dropdown button")]
      .find((b) => b.innerText.trim() === "Evidence");
    if (tab) tab.click();
    setTimeout(() => {
      const sub = [...document.querySelectorAll("#lz-evidence-tabs [role=tab]")][0];
      if (sub) sub.click();
      const target = document.querySelector("#lz-split-html");
      if (target) target.scrollIntoView({ behavior: "smooth", block: "start" });
    }, 150);
  });
}
