// explorer.html, curves: per cell group (β × lr, ...), the training curves of r_w, r_l, the
// margin, the displaced share and the loss, one colour per loss. Seeds are drawn as the mean with
// its 95% t-interval over seeds (computed in Python, harness.stats' interval) or as one line per
// run. plotly's legend turns a series on and off in every panel at once (legendgroup).

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const DASHES = ["solid", "dot", "dash", "longdash", "dashdot"];

function lossColour(loss) {
  const losses = [...new Set(X.data.cells.map((c) => c.loss))];
  return PALETTE[losses.indexOf(loss) % PALETTE.length];
}

function withAlpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
}

// a seed filter shows that seed's runs: the interval over seeds would say nothing about it
function perRun(s) { return s.seeds === "runs" || s.seed != null; }

function curveTraces(cells, s) {
  const metrics = X.data.curves.metrics;
  const split = s.split || "train";
  const traces = [];
  const seen = {}; // loss -> series drawn so far in this panel: a second series of one loss gets a dash
  cells.forEach((c) => { seen[c.loss] = (seen[c.loss] || 0) + 1; c._dash = DASHES[(seen[c.loss] - 1) % DASHES.length]; });
  metrics.forEach(([col, label], i) => {
    const axis = i ? String(i + 1) : "";
    const where = { xaxis: "x", yaxis: "y" + axis };
    for (const c of cells) {
      const colour = lossColour(c.loss);
      const wide = c.slug === s.cell ? 3 : 1.8;
      const common = { ...where, legendgroup: c.series, name: c.series, type: "scatter" };
      const mode = split === "eval" ? "lines+markers" : "lines";
      if (perRun(s)) {
        const ids = Object.keys(X.data.runs).filter((id) => X.data.runs[id].cell === c.slug && matchRun(id, s));
        ids.forEach((id, k) => {
          const d = (X.data.curves.run[id] || {})[split];
          if (!d || !d[col]) return;
          const r = X.data.runs[id];
          traces.push({ ...common, x: d.x, y: d[col], mode, showlegend: i === 0 && k === 0,
            line: { color: colour, width: id === s.run ? 3.5 : wide * 0.7, dash: DASHES[k % DASHES.length] },
            meta: id, hovertemplate: `${c.series} seed ${r.seed}: %{y:.4g}<extra>${label}</extra>` });
        });
        continue;
      }
      const d = ((X.data.curves.cell[c.slug] || {})[split]) || null;
      if (!d || !d[col]) continue;
      const [mean, lo, hi] = d[col];
      const band = d.x.map((x, j) => [x, lo[j], hi[j]]).filter((p) => p[1] != null && p[2] != null);
      if (band.length) {
        traces.push({ ...common, x: band.map((p) => p[0]).concat(band.map((p) => p[0]).reverse()),
          y: band.map((p) => p[2]).concat(band.map((p) => p[1]).reverse()), fill: "toself", mode: "lines",
          line: { width: 0 }, fillcolor: withAlpha(colour, 0.15), hoverinfo: "skip", showlegend: false });
      }
      traces.push({ ...common, x: d.x, y: mean, mode, showlegend: i === 0, meta: c.slug,
        line: { color: colour, width: wide, dash: c._dash }, customdata: d.x.map((_, j) => [lo[j], hi[j]]),
        hovertemplate: `${c.series}: %{y:.4g} [%{customdata[0]:.4g}, %{customdata[1]:.4g}]<extra>${label}</extra>` });
    }
  });
  return traces;
}

function curveLayout() {
  const metrics = X.data.curves.metrics;
  const layout = {
    height: 190 * metrics.length + 90, margin: { l: 70, r: 20, t: 30, b: 40 }, hovermode: "x",
    legend: { orientation: "h", y: 1.02, yanchor: "bottom" },
    grid: { rows: metrics.length, columns: 1, subplots: metrics.map((_, i) => ["xy" + (i ? i + 1 : "")]) },
    xaxis: { title: { text: "step" } },
  };
  metrics.forEach(([, label], i) => {
    layout["yaxis" + (i ? i + 1 : "")] = { title: { text: label }, zeroline: true, zerolinecolor: "#999" };
  });
  return layout;
}

function cellSummary(slug) {
  const row = X.data.main.rows.find((r) => r.cell === slug);
  if (!row) return null;
  return el("div", { class: "card", id: "cell-card" }, el("strong", {}, "Cell " + slug + " "),
    el("a", { href: link({ view: "tables", cell: slug }) }, "(its row)"),
    el("dl", { class: "kv" }, X.data.main.columns.map((c, i) => [el("dt", {}, c.header), el("dd", {}, row.t[i])])));
}

VIEW_RENDERERS.curves = (s) => {
  const shown = X.data.cells.filter((c) => matchCell(c.slug, s));
  const panels = [...new Set(shown.map((c) => c.panel))];
  const selected = s.cell && cellOf(s.cell) ? cellOf(s.cell).panel : s.panel && panels.includes(s.panel) ? s.panel : panels[0];
  const cells = shown.filter((c) => c.panel === selected);
  const controls = el("div", { class: "controls" },
    el("label", {}, "cells ", el("select", { id: "panel", onchange: (e) => go({ panel: e.target.value, cell: null }, true) },
      panels.map((p) => el("option", { value: p, selected: p === selected }, p)))),
    el("label", {}, "seeds ", el("select", { id: "seeds", onchange: (e) => go({ seeds: e.target.value === "mean" ? null : e.target.value }, true) },
      el("option", { value: "mean", selected: !perRun(s), disabled: s.seed != null }, "mean ± 95% CI"),
      el("option", { value: "runs", selected: perRun(s) }, "one line per seed"))),
    el("label", {}, "split ", el("select", { id: "split", onchange: (e) => go({ split: e.target.value === "train" ? null : e.target.value }, true) },
      ["train", "eval"].map((v) => el("option", { value: v, selected: (s.split || "train") === v }, v)))));
  const plot = el("div", { id: "plot" }, el("p", { class: "note" }, "drawing…"));
  const note = el("p", { class: "note" }, "Hover a line for its value (and interval); click a legend entry to turn that "
    + "series off or on in every panel, double-click to show it alone. r_w, r_l: log π/π_ref of the chosen and rejected "
    + "answers (unscaled); displaced share: pairs with r_w < 0. The band is the 95% t-interval over seeds.");
  if (!cells.length) return [controls, el("p", { class: "note" }, "No cell matches the filters.")];
  loadPlotly().then((Plotly) => {
    if (!Plotly) {
      plot.replaceChildren(el("p", { class: "note" }, "plotly was not installed where this page was written "
        + "(pip install plotly, then harness report again); curves.png in report.html shows the training curves."));
      return;
    }
    plot.replaceChildren();
    return Plotly.newPlot(plot, curveTraces(cells, s), curveLayout(), { displaylogo: false, responsive: true })
      .then(() => { // read by the tests, and by whoever measures how long a first plot takes
        plot.dataset.plotted = String(cells.length);
        plot.dataset.plottedMs = String(Math.round(performance.now()));
      });
  });
  return [controls, s.cell ? cellSummary(s.cell) : null, note, plot].filter(Boolean);
};
