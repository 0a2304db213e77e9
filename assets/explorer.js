() => {
  // A click on a step of the fidelity chart opens that step: the step number goes into the hidden
  // #lz-jump-to box, whose input event moves the step slider and every step-aware view (app/ui.py).
  document.addEventListener("click", (event) => {
    const plot = event.target.closest && event.target.closest("#lz-fidelity-plot");
    const gd = plot && plot.querySelector(".js-plotly-plot");
    const hover = gd && gd._hoverdata;
    if (!hover || !hover.length || typeof hover[0].x !== "number") return;
    const box = document.querySelector("#lz-jump-to textarea, #lz-jump-to input");
    if (!box) return;
    box.value = String(Math.round(hover[0].x));
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
}
