// explorer.html, tables: the verdict with links to its cells, the main (cell) table, the runs
// table and a run's card. The texts are the report's own (mean ± 95% CI over seeds); a header
// click sorts by the number behind the text.

function compareValues(a, b) {
  const na = typeof a === "number", nb = typeof b === "number";
  if (na && nb) return a - b;
  if (a == null || a === "–") return 1; // missing values last, whichever the direction
  if (b == null || b === "–") return -1;
  if (na !== nb) return na ? -1 : 1;
  return String(a).localeCompare(String(b));
}

// spec: {columns, rows: [{t: texts, v: sort values, ...}]}; opts: id, keep(row), decorate(tr, row), limit
function sortableTable(spec, opts) {
  const sort = X.sort[opts.id];
  let rows = spec.rows.filter(opts.keep);
  if (sort) {
    rows = rows.slice().sort((r1, r2) => {
      const [a, b] = [r1.v[sort.col], r2.v[sort.col]];
      if (a == null || a === "–" || b == null || b === "–") return compareValues(a, b);
      return sort.dir * compareValues(a, b);
    });
  }
  if (opts.limit) rows = rows.slice(0, opts.limit);
  const cls = spec.columns.map((c) => (c.label ? "lab" : "num"));
  const head = spec.columns.map((c, i) => el("th", {
    class: cls[i], title: c.description || null,
    "aria-sort": sort && sort.col === i ? (sort.dir > 0 ? "ascending" : "descending") : null,
    onclick: () => {
      const again = sort && sort.col === i;
      X.sort[opts.id] = { col: i, dir: again ? -sort.dir : c.label ? 1 : -1 }; // metrics: largest first
      render();
    },
  }, c.header));
  const body = rows.map((row) => {
    const tr = el("tr", {}, row.t.map((text, i) => el("td", { class: cls[i] }, text)));
    if (opts.decorate) opts.decorate(tr, row);
    return tr;
  });
  return el("table", { id: opts.id }, el("thead", {}, el("tr", {}, head)), el("tbody", {}, body));
}

function verdictSections(s) {
  return X.data.sections.map((sec) => [
    el("h2", {}, sec.heading),
    el("ul", { class: "verdict" }, sec.lines.map((line) => el("li", {}, line.text,
      line.cells.length ? el("a", { class: "cells", href: link({ view: "tables", cells: line.cells.join(","), cell: null }) },
        `→ its ${line.cells.length} cell${line.cells.length > 1 ? "s" : ""}`) : null))),
  ]);
}

function runCard(id) {
  const r = X.data.runs[id];
  if (!r) return el("p", { class: "note" }, `No run ${id} in these results.`);
  const c = r.cell ? cellOf(r.cell) : null;
  const metrics = X.data.runMetrics[id] || {};
  const cellFilters = c ? Object.fromEntries(X.data.keys.map((k) => [k.param, c.labels[k.param]])) : {};
  return el("div", { class: "card", id: "run-card" },
    el("strong", {}, `Run ${id}`),
    el("dl", { class: "kv" },
      X.data.keys.map((k) => [el("dt", {}, k.header), el("dd", {}, c ? c.labels[k.param] : "–")]),
      el("dt", {}, "seed"), el("dd", {}, r.seed == null ? "–" : String(r.seed)),
      el("dt", {}, "status"), el("dd", {}, r.status),
      Object.entries(metrics).map(([m, v]) => [el("dt", {}, m), el("dd", {}, v == null ? "–" : String(v))])),
    c ? el("p", {},
      el("a", { href: link({ view: "curves", cell: r.cell, seeds: "runs", run: id }) }, "its curves"), " · ",
      el("a", { href: link({ view: "prompts", ...cellFilters, seed: r.seed == null ? null : String(r.seed), run: null }) },
        "its generations"), " · ",
      el("a", { href: link({ view: "tables", cell: r.cell, run: null }) }, "its cell")) : null);
}

VIEW_RENDERERS.tables = (s) => {
  const only = s.cells ? new Set(s.cells.split(",")) : null;
  const out = [X.data.intro.map((t) => el("p", {}, t)), verdictSections(s)];
  out.push(el("h2", {}, X.data.main.title));
  if (only) {
    out.push(el("div", { class: "chip" }, `Showing the ${only.size} cell${only.size > 1 ? "s" : ""} of a verdict line · `,
      el("a", { href: link({ cells: null }) }, "show every cell")));
  }
  out.push(sortableTable(X.data.main, {
    id: "main-table",
    keep: (row) => (row.ref ? !only : matchCell(row.cell, s) && (!only || only.has(row.cell))),
    decorate: (tr, row) => {
      tr.dataset.cell = row.cell || "";
      if (row.ref) tr.classList.add("ref");
      if (row.cell && (row.cell === s.cell || (only && only.has(row.cell)))) tr.classList.add("hl");
      if (row.cell) {
        const first = tr.firstChild;
        first.replaceChildren(el("a", { href: link({ view: "curves", cell: row.cell, cells: null }), title: "curves of this cell" },
          first.textContent));
      }
    },
  }));
  if (s.seed != null) {
    out.push(el("p", { class: "note", id: "seed-note" }, `Seed ${s.seed} filters the runs, curves and generations; `
      + "the rows above are cells, whose values are over all their seeds."));
  }
  out.push(X.data.main.notes.map((n) => el("p", { class: "note" }, n)));
  out.push(el("h2", {}, X.data.runsTable.title));
  if (s.run) out.push(runCard(s.run));
  out.push(sortableTable(X.data.runsTable, {
    id: "runs-table",
    keep: (row) => matchRun(row.run, s) && (!only || only.has(X.data.runs[row.run].cell)),
    decorate: (tr, row) => {
      tr.dataset.run = row.run;
      if (row.run === s.run) tr.classList.add("hl");
      tr.firstChild.replaceChildren(el("a", { href: link({ view: "tables", run: row.run }) }, row.run));
    },
  }));
  return out;
};
