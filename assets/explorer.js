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

  // --- Plots at every width ---------------------------------------------------------------------
  // Gradio draws a figure with autosize and resizes it on a window resize only. A figure drawn while
  // its tab is hidden has no width, so plotly gives it its default 700 px, and a hidden figure keeps
  // its width through a window resize: both stay so until something redraws them. Here every plot's
  // box is watched: whenever its width changes (its tab shown, the window or the panel resized) the
  // figure is resized to it. After every draw what plotly never wraps is fitted to the width: the
  // title (its first line clear of the mode bar; the top margin and the figure grow by its extra lines,
  // so the plot area keeps its size), subplot headings, y axis titles and legend names go on more
  // lines; tick labels given as a list (tickvals) are thinned out until they no longer overlap; colour
  // bars get thinner on a narrow plot. Each figure's own texts are kept, so a wider box gets them back.
  const NARROW = 560; // px: a plot narrower than this gets compact colour bars
  const TITLE_TOP = 10; // px from the top to a title's first line
  const MAX_PASSES = 12; // fits of one figure at most (each changes its layout; a resize starts again)
  const TITLE_ANCHOR = [13, 23]; // the anchor that puts it there: one line, several (app/plotting.py)
  const seen = new WeakSet();
  const originals = new WeakMap(); // a figure's layout (a new object per figure Gradio draws) -> its own texts
  const queued = new Set();
  let frame = 0;

  function fitSoon(gd) {
    queued.add(gd);
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const gds = [...queued];
      queued.clear();
      gds.forEach(fit);
    });
  }

  const sizes = new ResizeObserver((entries) => entries.forEach((e) => fitSoon(e.target)));

  function watch() {
    document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
      if (seen.has(gd) || typeof gd.on !== "function") return;
      seen.add(gd);
      sizes.observe(gd);
      gd.on("plotly_afterplot", () => fitSoon(gd));
      fitSoon(gd);
    });
  }

  function fit(gd) {
    const P = window.Plotly;
    const full = gd._fullLayout;
    if (!P || !full || !gd.layout || !gd.isConnected || gd.offsetParent === null) return; // hidden: when shown
    let orig = originals.get(gd.layout);
    if (!orig) {
      orig = snapshot(gd.layout, gd.data);
      originals.set(gd.layout, orig);
    }
    const width = gd.clientWidth;
    if (width > 0 && Math.abs(full.width - width) > 1) {
      orig.passes = 0;
      Promise.resolve(P.Plots.resize(gd)).catch(() => {}); // its afterplot fits it again
      return;
    }
    // each change redraws the figure and fits it again; wraps that move margins that move wraps settle
    if (orig.passes >= MAX_PASSES) return;
    const patch = compact(gd, orig, full.width);
    const bars = colorbars(gd, orig, full.width);
    const [indices, names] = legendNames(gd, orig, full.width);
    const changed = Object.keys(patch).length || bars.length || indices.length;
    orig.passes = changed ? orig.passes + 1 : 0;
    bars.forEach(([index, restyle]) => Promise.resolve(P.restyle(gd, restyle, [index])).catch(() => {}));
    if (indices.length) Promise.resolve(P.restyle(gd, { name: names }, indices)).catch(() => {});
    if (Object.keys(patch).length) Promise.resolve(P.relayout(gd, patch)).catch(() => {});
  }

  function compact(gd, orig, width) {
    const layout = gd.layout;
    const full = gd._fullLayout;
    const patch = {};
    const font = full.title && full.title.font ? full.title.font : { size: 14, family: "sans-serif" };
    const modebar = gd.querySelector(".modebar");
    const corner = modebar && modebar.offsetParent !== null ? modebar.getBoundingClientRect().width + 8 : 0;
    const title = wrapTitle(orig.title, width - 24, corner, font);
    // room for every line of the title: the top margin and the figure grow by as much (not the plot area)
    const notes = headings(gd, orig, patch);
    const lines = lineCount(title) * font.size * 1.3;
    const top = Math.max(orig.top, Math.round(TITLE_TOP + lines + 8 + legendAbove(gd, full) + notes));
    const margin = layout.margin && layout.margin.t !== undefined ? layout.margin.t : 48;
    if (title !== ((layout.title && layout.title.text) || "") || top !== margin) {
      patch["title.text"] = title;
      patch["margin.t"] = top;
      patch.height = orig.height + top - orig.top;
      // a new height in relayout turns plotly's autosize off and fixes the width: keep following the box
      patch.autosize = true;
      patch.width = null;
      const anchor = TITLE_ANCHOR[lineCount(title) > 1 ? 1 : 0]; // as app/plotting.py's title_place
      patch["title.y"] = 1 - anchor / patch.height;
    }
    for (const [name, ticks] of Object.entries(orig.ticks)) {
      const axis = full[name];
      if (!axis || !axis._length) continue;
      const kept = thin(ticks, axis._length, name[0] === "x");
      const now = layout[name] && layout[name].tickvals;
      if (!now || now.length !== kept.vals.length) {
        patch[name + ".tickvals"] = kept.vals;
        patch[name + ".ticktext"] = kept.text;
      }
    }
    for (const [name, text] of Object.entries(orig.axisTitles)) {
      const axis = full[name];
      if (!axis || !axis._length) continue;
      const f = (axis.title && axis.title.font) || {};
      // a y title no taller than its axis (else it runs into the title), an x title no wider than the
      // figure (a longer one may overhang its axis, but a second line would run into a legend below)
      const room = name[0] === "y" ? axis._length : width - 16;
      const fits = (s) => textWidth(s, f.size || 12, f.family || font.family) <= room;
      const want = pack(text, fits).join("<br>");
      if (want !== ((layout[name].title && layout[name].title.text) || "")) patch[name + ".title.text"] = want;
    }
    return patch;
  }

  // Headings over subplots (annotations above the plot area, as make_subplots writes them), each wrapped
  // to its subplot's width in `patch`; returns the height of the tallest, which the top margin must hold.
  function headings(gd, orig, patch) {
    const full = gd._fullLayout;
    const domains = Object.keys(full)
      .filter((k) => /^xaxis\d*$/.test(k) && full[k] && full[k].domain)
      .map((k) => full[k].domain);
    let tallest = 0;
    for (const { index, text, size: own } of orig.headings) {
      const note = full.annotations[index];
      if (!note) continue;
      const d = domains.find(([a, b]) => note.x >= a - 0.01 && note.x <= b + 0.01) || [0, 1];
      const size = full.width < NARROW ? Math.min(own, 12) : own; // smaller on a phone: fewer lines
      const family = (note.font && note.font.family) || "sans-serif";
      const want = pack(text, (s) => textWidth(s, size, family) <= (d[1] - d[0]) * full._size.w + 8).join("<br>");
      if (want !== gd.layout.annotations[index].text) patch[`annotations[${index}].text`] = want;
      if (size !== note.font.size) patch[`annotations[${index}].font.size`] = size;
      tallest = Math.max(tallest, lineCount(want) * size * 1.3);
    }
    return tallest;
  }

  // Legend entries no wider than the plot: a long trace name on several lines. [[indices], names] to set.
  function legendNames(gd, orig, width) {
    const full = gd._fullLayout;
    const f = (full.legend && full.legend.font) || { size: 12, family: "sans-serif" };
    const fits = (s) => textWidth(s, f.size || 12, f.family) <= width - 70; // the symbol and the gaps
    const indices = [];
    const names = [];
    orig.names.forEach(({ index, name }) => {
      const want = pack(name, fits).join("<br>");
      if (gd.data[index] && gd.data[index].name !== want) {
        indices.push(index);
        names.push(want);
      }
    });
    return [indices, names];
  }

  // Colour bars on a narrow plot take less of its width: thinner, and tick labels that are words on lines
  // of a word or two. Returns [[trace index, restyle], ...] for the bars to change.
  function colorbars(gd, orig, width) {
    const out = [];
    const narrow = width < NARROW;
    for (const { index, text, thickness } of orig.colorbars) {
      const bar = gd.data[index] && gd.data[index].colorbar;
      if (!bar) continue;
      const restyle = {};
      const want = text && narrow ? text.map((t) => wordLines(String(t), 10)) : text;
      if (want && (!bar.ticktext || bar.ticktext.join("|") !== want.join("|"))) restyle["colorbar.ticktext"] = [want];
      const thick = narrow ? Math.min(thickness, 8) : thickness;
      if (bar.thickness !== thick) restyle["colorbar.thickness"] = thick;
      if (Object.keys(restyle).length) out.push([index, restyle]);
    }
    return out;
  }

  function wordLines(text, chars) {
    const lines = [];
    for (const word of text.split(" ")) {
      const last = lines.length - 1;
      if (last >= 0 && (lines[last] + " " + word).length <= chars) lines[last] += " " + word;
      else lines.push(word);
    }
    return lines.join("<br>");
  }

  function snapshot(layout, data) {
    const axisTitles = {};
    for (const [name, axis] of Object.entries(layout)) {
      const text = /^[xy]axis\d*$/.test(name) && axis && axis.title && axis.title.text;
      if (typeof text === "string" && text && !/<br/i.test(text)) axisTitles[name] = text;
    }
    const names = (data || [])
      .map((trace, index) => ({ index, name: trace.name }))
      .filter(({ index, name }) => typeof name === "string" && name && data[index].showlegend !== false);
    const words = (text) => Array.isArray(text) && text.some((t) => /[a-z] [a-z]/i.test(String(t)));
    const bars = (data || [])
      .map((trace, index) => ({ index, bar: trace.colorbar }))
      .filter(({ bar }) => bar && typeof bar === "object")
      .map(({ index, bar }) => ({
        index,
        text: words(bar.ticktext) ? bar.ticktext.slice() : null, // labels that are words go on lines
        thickness: bar.thickness || 30,
      }));
    const ticks = {};
    for (const [name, axis] of Object.entries(layout)) {
      if (!/^[xy]axis\d*$/.test(name) || !axis || !Array.isArray(axis.tickvals) || axis.tickvals.length < 3) continue;
      const text = Array.isArray(axis.ticktext) ? axis.ticktext : axis.tickvals.map(String);
      ticks[name] = { vals: axis.tickvals.slice(), text: text.slice() };
    }
    const margin = layout.margin || {};
    const headings = (layout.annotations || [])
      .map((note, index) => ({ index, note }))
      .filter(({ note }) => typeof note.text === "string" && note.text && !/<br/i.test(note.text))
      .filter(({ note }) => note.yref === "paper" && note.y >= 1 && (note.xref || "paper") === "paper")
      .map(({ index, note }) => ({ index, text: note.text, size: (note.font && note.font.size) || 16 }));
    return {
      passes: 0,
      headings,
      axisTitles,
      names: names.filter(({ name }) => !/<br/i.test(name)),
      title: (layout.title && layout.title.text) || "",
      ticks,
      colorbars: bars,
      top: margin.t === undefined ? 48 : margin.t,
      height: layout.height || 320,
    };
  }

  // The height of a legend drawn above the plot area (between it and the title), else 0.
  function legendAbove(gd, full) {
    const legend = full.showlegend && full.legend;
    if (!legend || legend.yref === "container" || !(legend.y >= 1)) return 0;
    const box = gd.querySelector(".legend");
    return box ? Math.ceil(box.getBoundingClientRect().height) : 0;
  }

  function lineCount(text) {
    return text ? text.split(/<br\s*\/?>/i).length : 0;
  }

  // Every k-th tick label, k the smallest that leaves each label its room (x: its text's width).
  function thin(ticks, length, horizontal) {
    const longest = Math.max(...ticks.text.map((t) => plain(String(t)).length));
    const room = horizontal ? longest * 7 + 14 : 18;
    const k = Math.max(1, Math.ceil((room * ticks.vals.length) / Math.max(length, 1)));
    if (k === 1) return ticks;
    const keep = (_, i) => i % k === 0;
    return { vals: ticks.vals.filter(keep), text: ticks.text.filter(keep) };
  }

  const canvas = document.createElement("canvas").getContext("2d");

  function plain(html) {
    return html.replace(/<[^>]*>/g, "").replace(/&[#a-z0-9]+;/gi, "x");
  }

  function textWidth(text, size, family) {
    canvas.font = `${size}px ${family}`;
    return canvas.measureText(plain(text)).width;
  }

  // The title's lines (split at <br>), each broken at " · " (else between words) to fit `width`; the
  // first line also leaves `corner` px for the mode bar. A <sup> line stays <sup> on every line.
  function wrapTitle(text, width, corner, font) {
    if (!text) return text;
    const lines = text.split(/<br\s*\/?>/i);
    const out = [];
    for (const line of lines) {
      const sup = /^\s*<sup>([\s\S]*)<\/sup>\s*$/i.exec(line);
      const size = sup ? font.size * 0.7 : font.size;
      const first = out.length === 0; // the first line of the title, beside the mode bar's corner
      const fits = (s, n) => textWidth(s, size, font.family) <= (first && n === 0 ? width - corner : width);
      for (const piece of pack(sup ? sup[1] : line, fits)) out.push(sup ? `<sup>${piece}</sup>` : piece);
    }
    return out.length === lines.length ? text : out.join("<br>");
  }

  // Lines of `body` that fit (fits(text, line number)): its " · " parts packed together, a part too
  // long broken between words.
  function pack(body, fitsLine) {
    const lines = [];
    const fits = (s) => fitsLine(s, lines.length);
    let line = "";
    for (const part of body.split(" · ")) {
      const next = line ? line + " · " + part : part;
      if (!line || fits(next)) {
        line = next;
        if (fits(line)) continue;
      } else {
        lines.push(line);
        line = part;
        if (fits(line)) continue;
      }
      const words = line.split(" ");
      line = "";
      for (const word of words) {
        const longer = line ? line + " " + word : word;
        if (line && !fits(longer)) {
          lines.push(line);
          line = word;
        } else {
          line = longer;
        }
      }
    }
    if (line) lines.push(line);
    return lines;
  }

  // --- Tables that scroll sideways say so ---------------------------------------------------------
  // A table wider than its block scrolls inside it (never the page): its block gets data-lz-scroll =
  // "right", "left" or "both" (the sides with columns out of view), which assets/style.css shows as a
  // shadow on that edge and a "scroll" label.
  const scrollers = new WeakSet();

  function hint(el) {
    const block = el.closest(".block");
    if (!block) return;
    const hidden = el.scrollWidth - el.clientWidth;
    const left = el.scrollLeft > 1;
    const right = hidden - el.scrollLeft > 1;
    const side = left && right ? "both" : left ? "left" : right ? "right" : "";
    if ((block.dataset.lzScroll || "") === side) return;
    if (side) block.dataset.lzScroll = side;
    else delete block.dataset.lzScroll;
  }

  const tableSizes = new ResizeObserver((entries) => entries.forEach((e) => hint(e.target)));

  function watchTables() {
    document.querySelectorAll(".virtual-table-viewport").forEach((el) => {
      if (!scrollers.has(el)) {
        scrollers.add(el);
        el.addEventListener("scroll", () => hint(el), { passive: true });
        tableSizes.observe(el);
      }
      hint(el); // new rows may make it wider
    });
  }

  let watching = 0;
  function watchSoon() {
    if (watching) return;
    watching = requestAnimationFrame(() => {
      watching = 0;
      watch();
      watchTables();
    });
  }

  new MutationObserver(watchSoon).observe(document.body, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["class"],
  });
  watchSoon();

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
