// explorer.html, generations: pick a prompt, read the reference's answer and every run's answer
// (per cell and seed, side by side) with the verifier's ✓/✗, the reward, the sample's KL to the
// reference and the length. The list filters by prompt text and by "A wrong, B right" (a series
// is wrong on a prompt when most of its shown answers are), and sorts by length, disagreement or KL.
// Also the pairs view: the per-pair table where the results have one.

function genIndex() {
  if (X.gens) return X.gens;
  const g = X.data.gens, rows = g.rows, byPrompt = g.prompts.map(() => []);
  (rows.prompt || []).forEach((p, i) => byPrompt[p].push(i));
  X.gens = { byPrompt, promptIndex: Object.fromEntries(g.prompts.map((p, i) => [p.id, i])) };
  return X.gens;
}

function seriesOfRun(id) {
  const r = X.data.runs[id];
  return r && r.cell ? cellOf(r.cell).series : null;
}

// per prompt, under the filters: per series [correct, scored], the longest answer, the largest KL
function promptStats(s) {
  const g = X.data.gens, rows = g.rows, idx = genIndex();
  const keep = g.runs.map((id) => matchRun(id, s) && !X.data.runs[id].ref);
  return g.prompts.map((p, i) => {
    const st = { i, series: {}, tokens: 0, kl: -Infinity };
    for (const j of idx.byPrompt[i]) {
      if (!keep[rows.run[j]]) continue;
      const series = seriesOfRun(g.runs[rows.run[j]]);
      const acc = st.series[series] || (st.series[series] = [0, 0]);
      if (rows.correct && rows.correct[j] != null) { acc[0] += rows.correct[j]; acc[1] += 1; }
      st.tokens = Math.max(st.tokens, rows.tokens[j] || 0);
      if (rows.kl && rows.kl[j] != null) st.kl = Math.max(st.kl, rows.kl[j]);
    }
    const shares = Object.values(st.series).filter((a) => a[1]).map((a) => a[0] / a[1]);
    st.spread = shares.length ? Math.max(...shares) - Math.min(...shares) : 0;
    return st;
  });
}

function isState(st, series, want) {
  const a = st.series[series];
  if (!a || !a[1]) return false;
  return want === "right" ? a[0] / a[1] > 0.5 : a[0] / a[1] < 0.5;
}

const ORDERS = { order: ["prompt order", null], tokens: ["longest answer first", (st) => -st.tokens],
  spread: ["most disagreement first", (st) => -st.spread], kl: ["largest KL first", (st) => -st.kl] };

function promptList(s, stats) {
  const g = X.data.gens, q = (s.q || "").toLowerCase();
  let list = stats.filter((st) => !q || g.prompts[st.i].text.toLowerCase().includes(q) || g.prompts[st.i].id.toLowerCase().includes(q));
  if (s.a) list = list.filter((st) => isState(st, s.a, s.as || "wrong"));
  if (s.b) list = list.filter((st) => isState(st, s.b, s.bs || "right"));
  const key = (ORDERS[s.order] || ORDERS.order)[1];
  if (key) list = list.slice().sort((x, y) => key(x) - key(y));
  return list;
}

function seriesOrder() { return [...new Set(X.data.cells.map((c) => c.series))]; }

function conditionControls(s) {
  const series = seriesOrder();
  const pick = (k, ks, dflt) => [
    el("select", { id: "cond-" + k, onchange: (e) => go({ [k]: e.target.value || null }, true) },
      el("option", { value: "" }, "any series"), series.map((v) => el("option", { value: v, selected: s[k] === v }, v))),
    el("select", { id: "cond-" + ks, onchange: (e) => go({ [ks]: e.target.value === dflt ? null : e.target.value }, true) },
      ["wrong", "right"].map((v) => el("option", { value: v, selected: (s[ks] || dflt) === v }, v)))];
  return el("div", { class: "controls" },
    el("input", { type: "search", id: "search", placeholder: "search prompt text", value: s.q || "",
      oninput: (e) => go({ q: e.target.value || null }, true) }),
    el("div", {}, "where ", pick("a", "as", "wrong"), " and ", pick("b", "bs", "right")),
    el("label", {}, "sort ", el("select", { id: "order", onchange: (e) => go({ order: e.target.value === "order" ? null : e.target.value }, true) },
      Object.entries(ORDERS).map(([k, [label]]) => el("option", { value: k, selected: (s.order || "order") === k }, label)))));
}

function fmt(v, digits) { return v == null ? "–" : Number(v).toFixed(digits); }

function completionCard(j, extra) {
  const rows = X.data.gens.rows, c = rows.correct ? rows.correct[j] : null;
  const verdict = c == null ? "" : c >= 0.5 ? "ok" : "bad";
  const run = X.data.gens.runs[rows.run[j]], r = X.data.runs[run];
  return el("div", { class: `completion ${verdict} ${r.ref ? "ref" : ""}`, "data-run": run, "data-seed": r.seed == null ? "" : r.seed },
    el("div", { class: "meta" }, el("span", { class: "mark" }, c == null ? "·" : c >= 0.5 ? "✓" : "✗"), extra,
      ` reward ${fmt(rows.reward && rows.reward[j], 3)} · KL ${fmt(rows.kl && rows.kl[j], 3)} · ${rows.tokens[j] ?? "–"} tokens`,
      rows.finish[j] && rows.finish[j] !== "stop" ? ` · ${rows.finish[j]}` : ""),
    el("pre", {}, rows.text[j]));
}

function promptDetail(s, i) {
  const g = X.data.gens, p = g.prompts[i], idx = genIndex();
  const rowsOf = {};
  for (const j of idx.byPrompt[i]) (rowsOf[g.runs[g.rows.run[j]]] ||= []).push(j);
  const out = [el("h2", {}, "Prompt " + p.id), el("pre", { id: "prompt-text" }, p.text)];
  if (p.gold != null) out.push(el("p", {}, "expected answer: ", el("code", {}, p.gold)));
  const refs = Object.keys(rowsOf).filter((id) => X.data.runs[id].ref);
  out.push(el("div", { class: "row-head" }, "reference"), el("div", { class: "grid" },
    refs.length ? refs.flatMap((id) => rowsOf[id].map((j) => completionCard(j, ` ${id} ·`))) : el("p", { class: "note" }, "no reference generation stored")));
  for (const c of X.data.cells.filter((c) => matchCell(c.slug, s))) {
    const runs = Object.keys(X.data.runs).filter((id) => X.data.runs[id].cell === c.slug && matchRun(id, s))
      .sort((a, b) => X.data.runs[a].seed - X.data.runs[b].seed);
    if (!runs.length) continue;
    out.push(el("div", { class: "row-head", "data-cell": c.slug }, el("a", { href: link({ view: "curves", cell: c.slug }) }, c.series),
      " · " + c.panel), el("div", { class: "grid" }, runs.flatMap((id) => (rowsOf[id] || [null]).map((j) => j == null
      ? el("div", { class: "completion missing", "data-run": id }, `seed ${X.data.runs[id].seed}: no generation (${X.data.runs[id].status})`)
      : completionCard(j, ` seed ${X.data.runs[id].seed}${g.rows.sample[j] ? " sample " + g.rows.sample[j] : ""} ·`)))));
  }
  return out;
}

VIEW_RENDERERS.prompts = (s) => {
  const g = X.data.gens;
  if (!g.prompts.length) return el("p", { class: "note" }, "These results have no generations (no evaluation ran).");
  const stats = promptStats(s), list = promptList(s, stats);
  const current = s.prompt != null ? genIndex().promptIndex[s.prompt] : undefined;
  const items = list.slice(0, 500).map((st) => {
    const p = g.prompts[st.i];
    return el("div", { class: "item" + (st.i === current ? " sel" : ""), "data-prompt": p.id, onclick: () => go({ prompt: p.id }) },
      el("span", { class: "pid" }, p.id), p.text.length > 90 ? p.text.slice(0, 90) + "…" : p.text, el("br"),
      seriesOrder().filter((name) => st.series[name]).map((name) => el("span", { class: "badge" },
        `${name} ${st.series[name][0]}/${st.series[name][1]}`)),
      el("span", { class: "badge" }, `≤ ${st.tokens} tok`));
  });
  const left = el("div", { class: "plist" }, el("p", { class: "note", id: "prompt-count" },
    `${list.length} of ${g.prompts.length} prompts` + (list.length > 500 ? " (first 500 listed)" : "")), items);
  const right = el("div", { class: "detail", id: "prompt-detail" }, current == null
    ? el("p", { class: "note" }, s.prompt ? `No prompt ${s.prompt} in these results.` : "Pick a prompt on the left.")
    : promptDetail(s, current));
  return [conditionControls(s), el("div", { class: "split" }, left, right)];
};

VIEW_RENDERERS.pairs = (s) => {
  const p = X.data.pairs;
  if (p.absent) return [el("h2", {}, "Pairs"), el("p", { class: "note", id: "pairs-absent" }, p.absent)];
  // each pair row led by its run's cell keys and seed, so that losses can be compared pair by pair
  const runCol = p.columns.indexOf("run_id");
  const lead = (id) => {
    const r = X.data.runs[id] || {}, c = r.cell ? cellOf(r.cell) : null;
    return X.data.keys.map((k) => (c ? c.labels[k.param] : r.ref ? "reference" : "–")).concat([r.seed == null ? "–" : String(r.seed)]);
  };
  const columns = X.data.keys.map((k) => ({ header: k.header, label: true })).concat([{ header: "seed", label: true }],
    p.columns.map((c) => ({ header: c, label: c === "run_id" || c === "prompt_id" })));
  const rows = p.rows.map((r) => {
    const keys = lead(r[runCol]);
    const numeric = keys.map((v) => (Number.isNaN(Number(v)) ? v : Number(v)));
    return { t: keys.concat(r.map((v) => (v == null ? "–" : String(v)))), v: numeric.concat(r), run: r[runCol] };
  });
  const shown = rows.filter((row) => matchRun(row.run, s)).length;
  const limit = 2000; // a DOM of more rows makes every sort slow; filters narrow it
  return [el("h2", {}, "Pairs"), el("p", { class: "note", id: "pairs-count" }, `${shown} rows`
    + (shown > limit ? ` (the first ${limit} in the current order; filter to see others)` : "")),
  sortableTable({ columns, rows }, { id: "pairs-table", keep: (row) => matchRun(row.run, s), limit })];
};
