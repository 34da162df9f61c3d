"use strict";
// explorer.html, core: the embedded data, the state (kept in the URL fragment, so that every
// view, cell, run and prompt has a link that reopens it), the filters and the tabs.
// Data and plotly.js are gzip + base64 inside the page (harness/report/explorer.py); nothing is
// fetched, and the page's Content-Security-Policy forbids it.

const X = { data: null, sort: {}, plotly: null, index: null };
const VIEWS = [["tables", "Tables"], ["curves", "Curves"], ["prompts", "Generations"], ["pairs", "Pairs"]];
// the fragment keys that are not filters
const STATE_KEYS = ["view", "cell", "cells", "run", "prompt", "q", "order", "a", "as", "b", "bs", "seeds", "split", "panel"];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
  return e;
}

async function inflate(id) {
  const b64 = document.getElementById(id).textContent.trim();
  if (!b64) return null;
  const bytes = Uint8Array.fromBase64 ? Uint8Array.fromBase64(b64) : Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
}

// plotly.js runs only when the first plot is drawn: the tables do not wait for 4.8 MB of script
function loadPlotly() {
  if (!X.plotly) {
    X.plotly = inflate("plotly-gz").then((src) => {
      if (!src) return null;
      document.head.append(el("script", {}, src));
      return window.Plotly || null;
    });
  }
  return X.plotly;
}

// ---------------------------------------------------------------- state <-> #fragment
function filterParams() { return X.data.keys.map((k) => k.param).concat(["seed"]); }

// Not URLSearchParams: it reads "+" as a space, and prompt ids such as "arith:59+73+58" have "+"
function decode(text) { try { return decodeURIComponent(text); } catch (e) { return text; } }

function encode(text) { return encodeURIComponent(text).replace(/%2C/g, ",").replace(/%3A/g, ":").replace(/%2F/g, "/"); }

function parseState() {
  const s = {};
  for (const part of location.hash.slice(1).split("&")) {
    const at = part.indexOf("=");
    if (at > 0 && at < part.length - 1) s[decode(part.slice(0, at))] = decode(part.slice(at + 1));
  }
  if (!s.view) s.view = s.prompt ? "prompts" : s.cell ? "curves" : "tables";
  return s;
}

function fragment(s) {
  const keys = ["view", ...filterParams(), ...STATE_KEYS.slice(1)].filter((k) => s[k] != null && s[k] !== "");
  return "#" + keys.map((k) => `${encode(k)}=${encode(s[k])}`).join("&");
}

function link(changes, base) { return fragment(Object.assign({}, base || parseState(), changes)); }

// navigate: a new history entry (back returns); replace: typing and toggles, no entry each
function go(changes, replace) {
  const hash = link(changes);
  if (replace) { history.replaceState(null, "", hash); render(); } else location.hash = hash;
}

// ---------------------------------------------------------------- cells, runs, filters
function cellOf(slug) { return X.index.cells[slug]; }

function matchCell(slug, s) {
  const c = cellOf(slug);
  return !!c && X.data.keys.every((k) => s[k.param] == null || c.labels[k.param] === s[k.param]);
}

function matchRun(id, s) {
  const r = X.data.runs[id];
  if (!r) return false;
  if (r.ref) return true; // the reference is the baseline of every filtered view
  return matchCell(r.cell, s) && (s.seed == null || String(r.seed) === s.seed);
}

function byNumberThenText(a, b) {
  const x = Number(a), y = Number(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return String(a).localeCompare(String(b));
}

function renderFilters(s) {
  const box = document.getElementById("filters");
  const choices = X.data.keys.map((k) => [k.param, k.header, [...new Set(X.data.cells.map((c) => c.labels[k.param]))]]);
  const seeds = [...new Set(Object.values(X.data.runs).filter((r) => !r.ref && r.seed != null).map((r) => String(r.seed)))];
  choices.push(["seed", "seed", seeds]);
  box.replaceChildren(...choices.map(([param, header, values]) => el("label", {}, header + " ",
    el("select", { "data-filter": param, onchange: (e) => go({ [param]: e.target.value || null }, true) },
      el("option", { value: "" }, "all"),
      values.sort(byNumberThenText).map((v) => el("option", { value: v, selected: s[param] === v }, v))))));
  const active = filterParams().filter((p) => s[p] != null);
  if (active.length) box.append(el("a", { href: link(Object.fromEntries(active.map((p) => [p, null]))) }, "clear filters"));
}

function renderTabs(s) {
  document.getElementById("tabs").replaceChildren(...VIEWS.map(([v, label]) =>
    el("button", { class: s.view === v ? "active" : null, "data-view": v, onclick: () => go({ view: v }) }, label)));
}

const VIEW_RENDERERS = {};

function render() {
  const s = parseState();
  // a re-render replaces the controls: keep the one being typed in focused, caret in place
  const active = document.activeElement, focusId = active && active.id;
  const caret = focusId && typeof active.selectionStart === "number" ? active.selectionStart : null;
  renderTabs(s);
  renderFilters(s);
  const app = document.getElementById("app");
  const draw = VIEW_RENDERERS[s.view] || VIEW_RENDERERS.tables;
  app.replaceChildren(...[draw(s)].flat(Infinity).filter((n) => n != null));
  const hl = app.querySelector(".hl, .item.sel");
  if (hl) hl.scrollIntoView({ block: "nearest" });
  const again = focusId && document.getElementById(focusId);
  if (again) { again.focus(); if (caret != null && again.setSelectionRange) again.setSelectionRange(caret, caret); }
  document.body.dataset.view = s.view;
  document.body.dataset.ready = "1";
}

async function start() {
  X.data = JSON.parse(await inflate("data-gz"));
  X.index = { cells: Object.fromEntries(X.data.cells.map((c) => [c.slug, c])) };
  window.addEventListener("hashchange", render);
  render();
  document.body.dataset.openMs = String(Math.round(performance.now()));
  // plotly.js takes ~0.5-1 s to run on a small machine: do it while the reader reads the tables
  (window.requestIdleCallback || setTimeout)(() => loadPlotly(), { timeout: 3000 });
}

start().catch((e) => {
  document.getElementById("app").replaceChildren(el("p", { class: "note" }, "The explorer could not start: " + e));
  document.body.dataset.error = String(e);
});
