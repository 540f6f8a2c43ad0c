// segstore's dashboard: a few pages over the public /v1 API, no framework, nothing fetched
// from elsewhere. Pages: #/ (segmentations), #/segmentations/<id> (its runs, retrain),
// #/runs/<id> (status, charts, profiles), #/runs/<id>/segments/<segment> (the members, paged),
// #/customers and #/customers/<id> (a customer: attributes, predicted value, segment now and
// before), #/value (predicted value: the model, its spread, probability alive, the backtest).
"use strict";

const view = document.getElementById("view");
let timer = null;

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

class SignInNeeded extends Error {}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, options));
  const body = await response.json().catch(() => null);
  if (response.status === 401) throw new SignInNeeded(body && body.detail ? body.detail : "a key is needed");
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return esc(v);
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2);
  return v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

function when(t) {
  return t ? new Date(t).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "–";
}

function badge(run) {
  return `<span class="badge ${esc(run.status)}" data-status="${esc(run.status)}">${esc(run.status)}</span>` +
    (run.active ? `<span class="badge active">active</span>` : "");
}

// BrBG, as the server's heat map: brown below the population, teal above, full at ±2 sd.
// Neither end says good or bad: above-average recency is a lapsed segment, not a hot one.
function liftColour(lift) {
  const mix = (a, b, t) => a.map((x, i) => Math.round(x + (b[i] - x) * Math.min(1, Math.max(0, t))));
  const mid = [0xf5, 0xf5, 0xf5];
  const rgb = lift >= 0 ? mix(mid, [0x01, 0x66, 0x5e], lift / 2) : mix(mid, [0x8c, 0x51, 0x0a], -lift / 2);
  const light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140;
  return `background: rgb(${rgb.join(",")}); color: ${light ? "#222" : "#fff"}`;
}

const liftKey = `<p class="lift-key muted">Lift: the segment's mean minus everyone's, in standard deviations:
  <span class="lift" style="${liftColour(-2)}">−2 below</span><span class="lift" style="${liftColour(0)}">0 average</span><span class="lift" style="${liftColour(2)}">+2 above</span></p>`;

// A segmentation's algorithm in words, e.g. "K-Means, k chosen in 2–10 by silhouette".
function algorithmText(a) {
  const names = { kmeans: "K-Means", minibatch_kmeans: "Mini-batch K-Means", gmm: "Gaussian mixture", ward: "Ward (hierarchical)", bisecting: "Bisecting K-Means (hierarchical)", dbscan: "DBSCAN", hdbscan: "HDBSCAN" };
  const name = names[a.type] || a.type;
  if (a.type === "dbscan") return `${name}, radius ${fmt(a.eps, 2)} (scaled units), at least ${fmt(a.min_points, 0)} customers per core`;
  if (a.type === "hdbscan") {
    const core = a.min_samples != null ? `, ${fmt(a.min_samples, 0)} neighbours to be core` : "";
    const selection = a.cluster_selection_method === "leaf" ? "leaf clusters" : "most stable clusters";
    return `${name}, segments of at least ${fmt(a.min_cluster_size, 0)} customers${core}, ${selection}`;
  }
  // An algorithm that finds its own number of segments has no k: its parameters as they are.
  if (!("k" in a)) {
    const params = Object.entries(a).filter(([key]) => key !== "type").map(([key, v]) => `${key} ${v}`);
    return [name, ...params].join(", ");
  }
  const rules = { silhouette: "silhouette", elbow: "elbow", davies_bouldin: "Davies–Bouldin", calinski_harabasz: "Calinski–Harabasz", bic: "BIC" };
  const k = a.k === "auto" || a.k === undefined
    ? `k chosen in ${a.k_min ?? 2}–${a.k_max ?? 10} by ${rules[a.k_rule] || a.k_rule || "silhouette"}`
    : `k = ${fmt(a.k, 0)}`;
  const seed = a.seed !== undefined ? `, seed ${a.seed}` : "";
  return `${name}, ${k}${seed}`;
}

function failure(error) {
  view.innerHTML = `<div class="error" role="alert">${esc(error.message)}</div><p><a href="#/">Back to the segmentations</a></p>`;
}

async function home() {
  const { segmentations } = await api("/v1/segmentations");
  if (!segmentations.length) {
    view.innerHTML = `<h1>Segmentations</h1><div class="card">No segmentation yet. Import customers
      (<code>POST /v1/customers/import</code>), then create one (<code>POST /v1/segmentations</code>):
      the README's quickstart does both.</div>`;
    return;
  }
  const rows = await Promise.all(segmentations.map(async s => {
    const { runs } = await api(`/v1/segmentations/${s.id}/runs?limit=1`);
    const latest = runs[0];
    const active = s.active_run_id
      ? `<a href="#/runs/${s.active_run_id}">${latest && latest.id === s.active_run_id ? `k = ${fmt(latest.k, 0)}, ${when(latest.finished_at)}` : "open"}</a>`
      : `<span class="muted">none yet</span>`;
    const last = latest ? `<a href="#/runs/${latest.id}">${badge(latest)}</a>` : `<span class="muted">never run</span>`;
    const algo = s.config.algorithm;
    return `<tr data-segmentation="${esc(s.id)}">
      <td><a href="#/segmentations/${s.id}">${esc(s.name)}</a><div class="muted">${esc(s.description)}</div></td>
      <td>${s.config.features.map(esc).join(", ")}</td>
      <td>${esc(algorithmText(algo))}</td>
      <td>${active}</td><td>${last}</td>
      <td><button data-retrain="${esc(s.id)}">Retrain</button></td></tr>`;
  }));
  view.innerHTML = `<h1>Segmentations</h1>
    <table id="segmentations"><thead><tr><th>Name</th><th>Features</th><th>Algorithm</th>
    <th>Active run</th><th>Latest run</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
  view.querySelectorAll("button[data-retrain]").forEach(b => b.addEventListener("click", () => retrain(b.dataset.retrain, b)));
}

async function retrain(segmentation, button) {
  button.disabled = true;
  try {
    const run = await api(`/v1/segmentations/${segmentation}/runs?queue=true`, { method: "POST" });
    location.hash = `#/runs/${run.id}`;
  } catch (e) {
    button.disabled = false;
    alert(e.message);
  }
}

async function segmentationPage(id) {
  const [s, { runs }] = await Promise.all([api(`/v1/segmentations/${id}`), api(`/v1/segmentations/${id}/runs?limit=50`)]);
  const rows = runs.map(r => `<tr><td><a href="#/runs/${r.id}">${when(r.created_at)}</a></td><td>${badge(r)}</td>
    <td>${esc(r.trigger)}</td><td class="num">${fmt(r.k, 0)}</td><td>${esc(r.k_rule)}</td>
    <td class="num">${r.metrics ? fmt(r.metrics.silhouette, 3) : "–"}</td>
    <td class="num">${r.customers ? fmt(r.customers.used, 0) : "–"}</td></tr>`).join("");
  view.innerHTML = `<h1>${esc(s.name)} <span class="muted">version ${s.version}</span></h1>
    <div class="card"><div class="facts">
      <div><span>features</span>${s.config.features.map(esc).join(", ")}</div>
      <div><span>log1p</span>${(s.config.log1p || []).map(esc).join(", ") || "–"}</div>
      <div><span>scaling</span>${esc(s.config.scaling)}</div>
      <div id="algorithm"><span>algorithm</span>${esc(algorithmText(s.config.algorithm))}</div>
      <div><span>schedule</span>${esc(s.schedule || "–")}</div></div>
      <button id="retrain">Retrain now</button></div>
    <h2>Runs</h2><table><thead><tr><th>Created</th><th>Status</th><th>Trigger</th><th class="num">k</th>
    <th>k chosen by</th><th class="num">Silhouette</th><th class="num">Customers</th></tr></thead>
    <tbody>${rows || `<tr><td colspan="7" class="muted">No run yet.</td></tr>`}</tbody></table>`;
  document.getElementById("retrain").addEventListener("click", e => retrain(id, e.target));
}

function chart(src, alt) {
  return `<img class="chart-image" src="${src}" alt="${esc(alt)}">`;
}

// Marks each chart image `data-loaded="true"` (or "error") once the browser has it.
function watchImages(root) {
  root.querySelectorAll("img.chart-image").forEach(img => {
    const mark = () => { img.dataset.loaded = img.naturalWidth > 0 ? "true" : "error"; };
    if (img.complete) mark();
    else {
      img.addEventListener("load", mark);
      img.addEventListener("error", () => { img.dataset.loaded = "error"; });
    }
  });
}

async function runPage(id) {
  const run = await api(`/v1/runs/${id}`);
  const segmentation = await api(`/v1/segmentations/${run.segmentation_id}`);
  const head = `<p class="muted"><a href="#/segmentations/${segmentation.id}">${esc(segmentation.name)}</a> ·
    run of ${when(run.created_at)}</p><h1>${esc(segmentation.name)} ${badge(run)}</h1>`;
  if (run.status === "queued" || run.status === "running") {
    const p = run.progress;
    view.innerHTML = `${head}<div class="card" id="run-status" data-status="${esc(run.status)}">
      <progress max="100" value="${p.percent}"></progress> ${esc(p.phase)}, ${fmt(p.percent, 0)}%
      <p class="muted">This page follows the run and shows its results when it succeeds.</p></div>`;
    timer = setTimeout(() => route(), 1000);
    return;
  }
  if (run.status !== "succeeded") {
    view.innerHTML = `${head}<div class="error" id="run-status" data-status="${esc(run.status)}">
      ${esc(run.error ? run.error.message : run.status)}</div>`;
    return;
  }
  const profiles = await api(`/v1/runs/${id}/segments`);
  const features = profiles.features;
  // Only a swept k has an elbow curve: not a given one, nor a density-based algorithm's own.
  const hasCurve = run.k_rule && run.k_rule !== "given" && "k" in run.params.algorithm;
  const options = (selected) => features.map(f => `<option${f === selected ? " selected" : ""}>${esc(f)}</option>`).join("");
  const pcs = features.length > 2 ? `<option value="">principal components</option>` : "";
  const m = run.metrics || {};
  // Per categorical feature: the segment's most common level, its share and lift.
  const categories = profiles.population_categories || [];
  const leading = (c) => c.levels.reduce((a, b) => (b.share > a.share ? b : a));
  const categoryCells = (s) => (s.categories || []).map(c => {
    const l = leading(c);
    return `<td class="category" title="${esc(c.levels.map(x => `${x.level} ${fmt(x.share * 100, 0)}%`).join(", "))}">${fmt(l.share * 100, 0)}% ${esc(l.level)} <span class="muted">×${fmt(l.lift, 2)}</span></td>`;
  }).join("");
  const rows = profiles.segments.map(s => `<tr data-segment="${s.segment_id}">
      <td><span class="swatch" style="background:${esc(s.colour)}"></span><a href="#/runs/${id}/segments/${s.segment_id}" title="its customers">#${s.segment_id}</a></td>
      <td>${esc(s.label)}${s.persona ? ` <span class="muted">(${esc(s.persona)})</span>` : ""}</td>
      <td class="num">${fmt(s.size, 0)}</td><td class="num">${fmt(s.share * 100, 1)}%</td>
      ${s.centroid.map(c => `<td class="num">${fmt(c)}</td>`).join("")}
      ${s.lift.map(l => `<td class="lift" style="${liftColour(l)}">${l >= 0 ? "+" : ""}${fmt(l, 2)}</td>`).join("")}
      ${categoryCells(s)}</tr>`).join("");
  view.innerHTML = `${head}
    <div class="card" id="run-status" data-status="succeeded"><div class="facts">
      <div><span>segments</span>${fmt(run.k, 0)} (${esc(run.k_rule)})</div>
      <div><span>customers</span>${fmt(run.customers.used, 0)} used, ${fmt(run.customers.dropped, 0)} dropped</div>
      ${run.fit && run.fit.noise ? `<div id="noise"><span>noise</span>${fmt(run.fit.noise, 0)} in no dense region (no segment)</div>` : ""}
      <div><span>silhouette</span>${fmt(m.silhouette, 3)}</div>
      <div><span>Davies–Bouldin</span>${fmt(m.davies_bouldin, 3)}</div>
      <div><span>finished</span>${when(run.finished_at)}</div></div>
      <div class="links"><a href="/v1/runs/${id}/assignments.csv">Assignments (CSV)</a>
      <a href="/v1/runs/${id}/segments">Profiles (JSON)</a><a href="/v1/runs/${id}">Run (JSON)</a>
      <a href="/docs/">API docs</a><button id="retrain" class="secondary">Retrain</button></div></div>
    <h2>Profiles</h2>
    <table id="profile-table"><thead><tr><th>Segment</th><th>Label</th><th class="num">Customers</th><th class="num">Share</th>
      ${features.map(f => `<th class="num">${esc(f)}<br><span class="muted">mean</span></th>`).join("")}
      ${features.map(f => `<th class="lift">${esc(f)}<br><span class="muted">lift (sd)</span></th>`).join("")}
      ${categories.map(c => `<th>${esc(c.feature)}<br><span class="muted">most common (×lift)</span></th>`).join("")}</tr></thead>
    <tbody>${rows}</tbody></table>
    ${liftKey}
    ${driftCard(run)}
    <div id="changes"></div>
    <div class="charts">
      <section class="card chart" id="scatter"><h2>Customers by segment</h2>
        <div class="picker"><label>x <select id="x">${pcs}${options(features.length > 2 ? null : features[0])}</select></label>
        <label>y <select id="y">${pcs}${options(features.length > 2 ? null : features[1])}</select></label></div>
        <div id="scatter-image">${chart(`/v1/runs/${id}/charts/scatter.svg`, "customers by segment")}</div></section>
      ${hasCurve ? `<section class="card chart" id="elbow"><h2>Choosing k</h2>${chart(`/v1/runs/${id}/charts/elbow.svg`, "elbow curve")}</section>` : ""}
      <section class="card chart" id="segments"><h2>Sizes and lift</h2>${chart(`/v1/runs/${id}/charts/segments.svg`, "segment sizes and lift")}</section>
    </div>`;
  watchImages(view);
  document.getElementById("retrain").addEventListener("click", e => retrain(run.segmentation_id, e.target));
  const activate = document.getElementById("activate");
  if (activate) activate.addEventListener("click", async () => {
    activate.disabled = true;
    await api(`/v1/runs/${id}/activate`, { method: "POST" });
    route();
  });
  showChanges(run);
  const x = document.getElementById("x"), y = document.getElementById("y");
  const redraw = () => {
    let query = "";
    if (x.value || y.value) {
      const pick = (v, other) => v || features.find(f => f !== other);
      const xv = pick(x.value, y.value), yv = pick(y.value, xv);
      if (xv === yv) return;
      query = `?x=${encodeURIComponent(xv)}&y=${encodeURIComponent(yv)}`;
    }
    const holder = document.getElementById("scatter-image");
    holder.innerHTML = chart(`/v1/runs/${id}/charts/scatter.svg${query}`, "customers by segment");
    watchImages(holder);
  };
  // Picking the other axis's feature swaps the two.
  let last = { x: x.value, y: y.value };
  const picked = (mine, other, key, otherKey) => () => {
    if (mine.value && mine.value === other.value) other.value = last[key];
    last = { [key]: mine.value, [otherKey]: other.value };
    redraw();
  };
  x.addEventListener("change", picked(x, y, "x", "y"));
  y.addEventListener("change", picked(y, x, "y", "x"));
}

// How far a run is from the active run it replaced (or would have): who moved, agreement,
// each segment's size and centre, each feature's population stability, thresholds crossed.
function driftCard(run) {
  const d = run.drift;
  if (!d) return "";
  const crossed = d.crossed.map(c => `${esc(c.threshold)} ${fmt(c.value, 3)} (limit ${fmt(c.limit, 3)})`).join(", ");
  const notice = d.crossed.length === 0 ? `<p class="muted">No drift threshold crossed.</p>`
    : `<div class="error" id="drift-crossed">Drift: ${crossed}.${d.held ? " Activation is held until someone activates this run." : ""}
       ${d.held && !run.active ? ` <button id="activate">Activate this run</button>` : ""}</div>`;
  const psi = (v) => (v === null ? "–" : `${fmt(v, 3)}${v > 0.25 ? " ⚠" : v > 0.1 ? " ·" : ""}`);
  const segments = d.segments.map(s => `<tr><td>#${s.segment_id}</td>
      <td class="num">${fmt(s.size_before, 0)}</td><td class="num">${fmt(s.size_after, 0)}</td>
      <td class="num">${s.size_change === null ? "–" : `${s.size_change >= 0 ? "+" : ""}${fmt(s.size_change * 100, 1)}%`}</td>
      <td class="num">${fmt(s.centroid_shift, 2)}</td></tr>`).join("");
  const features = d.features.map(f => `<tr><td>${esc(f.feature)}</td><td class="num">${psi(f.psi)}</td></tr>`).join("");
  return `<section class="card" id="drift"><h2>Since the previous run</h2>
    <p class="muted">Against <a href="#/runs/${d.against_run_id}">the run active before</a>.</p>
    <div class="facts">
      <div><span>customers who moved</span>${fmt(d.moved, 0)} of ${fmt(d.customers_compared, 0)} (${fmt((d.moved_share ?? 0) * 100, 1)}%)</div>
      <div><span>entered · left</span>${fmt(d.entered, 0)} · ${fmt(d.left, 0)}</div>
      <div><span>adjusted Rand index</span>${fmt(d.adjusted_rand_index, 3)}</div></div>
    ${notice}
    <div class="columns"><table id="drift-features"><thead><tr><th>Feature</th><th class="num">PSI</th></tr></thead><tbody>${features}</tbody></table>
    <table id="drift-segments"><thead><tr><th>Segment</th><th class="num">Before</th><th class="num">After</th><th class="num">Size change</th>
      <th class="num">Centre moved (sd)</th></tr></thead><tbody>${segments}</tbody></table></div>
    <p class="muted">PSI, the population stability index of a feature between the two snapshots: below 0.1 stable,
      0.1–0.25 worth a look (·), above 0.25 another population (⚠).</p></section>`;
}

// The customers whose segment changed when this run became active (the first 20).
async function showChanges(run) {
  const holder = document.getElementById("changes");
  const { activations } = await api(`/v1/segmentations/${run.segmentation_id}/activations?limit=1000`);
  const mine = activations.find(a => a.run_id === run.id);
  if (!mine) return;
  const page = await api(`/v1/segmentations/${run.segmentation_id}/changes?limit=20&after=c1_${mine.activation}_0`);
  const changes = page.changes.filter(c => c.activation === mine.activation);
  const side = (s) => (s ? `#${s.segment_id} ${esc(s.label || "")}` : `<span class="muted">none</span>`);
  const rows = changes.map(c => `<tr><td><a href="#/customers/${encodeURIComponent(c.customer_id)}">${esc(c.customer_id)}</a></td>
    <td>${esc(c.change)}</td><td>${side(c.from)}</td><td>${side(c.to)}</td></tr>`).join("");
  holder.innerHTML = `<section class="card" id="activation-changes"><h2>Changes at its activation</h2>
    <p class="muted">Activation ${fmt(mine.activation, 0)} (${esc(mine.cause)}, ${when(mine.activated_at)}):
      ${fmt(mine.entered, 0)} entered, ${fmt(mine.moved, 0)} moved, ${fmt(mine.left, 0)} left.
      <a href="/v1/segmentations/${run.segmentation_id}/changes.csv?after=c1_${mine.activation - 1}_0">The feed (CSV)</a></p>
    ${rows ? `<table><thead><tr><th>Customer</th><th>Change</th><th>From</th><th>To</th></tr></thead><tbody>${rows}</tbody></table>` : ""}</section>`;
}

// A segment's customers, a page at a time (keyset: `after` is the last id shown).
async function membersPage(runId, segment, after) {
  const query = new URLSearchParams({ segment, limit: "50" });
  if (after) query.set("after", after);
  const [run, profiles, page] = await Promise.all([
    api(`/v1/runs/${runId}`), api(`/v1/runs/${runId}/segments`), api(`/v1/runs/${runId}/assignments?${query}`),
  ]);
  const seg = profiles.segments.find(s => String(s.segment_id) === String(segment));
  if (!seg) throw new Error(`404: run ${runId} has no segment #${segment}`);
  const segmentation = await api(`/v1/segmentations/${run.segmentation_id}`);
  const score = page.score === "probability" ? "Probability" : "Distance to the centre";
  const rows = page.assignments.map(a => `<tr><td><a href="#/customers/${encodeURIComponent(a.customer_id)}">${esc(a.customer_id)}</a></td>
    <td class="num">${fmt(a.score, 3)}</td></tr>`).join("");
  const next = page.next_after
    ? `<a id="next-page" href="#/runs/${runId}/segments/${segment}/after/${encodeURIComponent(page.next_after)}">Next ${page.assignments.length} →</a>` : "";
  const first = after ? `<a href="#/runs/${runId}/segments/${segment}">← First page</a>` : "";
  view.innerHTML = `<p class="muted"><a href="#/segmentations/${segmentation.id}">${esc(segmentation.name)}</a> ·
    <a href="#/runs/${runId}">run of ${when(run.created_at)}</a></p>
    <h1><span class="swatch" style="background:${esc(seg.colour)}"></span>#${seg.segment_id} ${esc(seg.label)}</h1>
    <div class="card"><div class="facts">
      <div><span>customers</span>${fmt(seg.size, 0)} (${fmt(seg.share * 100, 1)}%)</div>
      ${profiles.features.map((f, i) => `<div><span>${esc(f)} (mean)</span>${fmt(seg.centroid[i])}</div>`).join("")}</div>
      <div class="links"><a id="members-csv" href="/v1/runs/${runId}/assignments.csv?segment=${seg.segment_id}">All ${fmt(seg.size, 0)} as CSV</a></div></div>
    <table id="members"><thead><tr><th>Customer</th><th class="num">${score}</th></tr></thead>
    <tbody>${rows || `<tr><td colspan="2" class="muted">No customer.</td></tr>`}</tbody></table>
    <p class="pager">${first} ${next}</p>`;
}

// Probability alive (BG/NBD; Fader, Hardie & Lee's note 021), as the server computes it.
function pAlive(m, x, recency, T) {
  if (x === 0) return 1;
  const logDiv = (m.r + x) * Math.log((m.alpha + T) / (m.alpha + recency)) + Math.log(m.a / (m.b + x - 1));
  return 1 / (1 + Math.exp(logDiv));
}

// White to indigo with the probability; text dark or light to stay readable.
function aliveColour(p) {
  const rgb = [0xff, 0xff, 0xff].map((w, i) => Math.round(w + ([0x33, 0x22, 0x88][i] - w) * p));
  const light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140;
  return `background: rgb(${rgb.join(",")}); color: ${light ? "#222" : "#fff"}`;
}

// Predicted value: the latest refresh's model, how value is spread, who is still alive, and
// the backtest when there is one.
async function valuePage() {
  let m;
  try {
    m = await api("/v1/clv/model");
  } catch (e) {
    if (e instanceof SignInNeeded || !e.message.startsWith("404")) throw e;
    view.innerHTML = `<h1>Predicted value</h1><div class="card muted" id="no-model">No model yet: <code>POST
      /v1/clv/refresh</code> fits one from the order lines (add <code>?holdout_days=90</code> for a backtest).</div>`;
    return;
  }
  const bg = m.bgnbd, gg = m.gamma_gamma;
  const param = (name, v, se) => `<tr><th>${name}</th><td class="num">${fmt(v, 4)}</td><td class="num">${se ? fmt(se, 4) : "–"}</td></tr>`;
  const params = [["r", bg.r, bg.standard_errors?.r], ["alpha (days)", bg.alpha, bg.standard_errors?.alpha],
    ["a", bg.a, bg.standard_errors?.a], ["b", bg.b, bg.standard_errors?.b], ["p", gg.p, gg.standard_errors?.p],
    ["q", gg.q, gg.standard_errors?.q], ["v", gg.v, gg.standard_errors?.v]].map(r => param(...r)).join("");
  const limits = [...bg.at_limit, ...gg.at_limit];
  // The spread: a bar per bin.
  const bins = m.value_distribution.histogram;
  const most = Math.max(1, ...bins.map(b => b.customers));
  const bars = bins.map(b => `<div class="bar" title="${fmt(b.from, 0)}${b.to === null ? " and more" : `–${fmt(b.to, 0)}`}: ${fmt(b.customers, 0)} customers">
      <span style="height: ${(100 * b.customers / most).toFixed(1)}%"></span></div>`).join("");
  const deciles = m.value_distribution.deciles;
  const decileRow = deciles.length ? `<table id="value-deciles"><thead><tr>${["min", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "max"].map(h => `<th class="num">${h}</th>`).join("")}</tr></thead>
      <tbody><tr>${deciles.map(v => `<td class="num">${fmt(v, 0)}</td>`).join("")}</tr></tbody></table>` : "";
  // Probability alive by frequency (rows) and recency (columns), for the oldest customers.
  const T = m.max_t_days, maxF = Math.min(m.max_frequency, 20), steps = 12;
  const recencies = Array.from({ length: steps + 1 }, (_, i) => Math.round(T * i / steps));
  const matrix = Array.from({ length: maxF + 1 }, (_, x) => `<tr><th class="num">${x}</th>${recencies.map(rec => {
    // x repeat purchase days take at least x days after the first, and without one the
    // recency is 0: no customer has another history.
    if (rec < x || (x === 0 && rec > 0)) return `<td class="alive none"></td>`;
    const p = pAlive(bg, x, rec, T);
    return `<td class="alive" style="${aliveColour(p)}">${fmt(p, 2)}</td>`;
  }).join("")}</tr>`).join("");
  const bt = m.backtest;
  const backtest = bt ? `<section class="card chart" id="backtest"><h2>Backtest</h2>
      <p class="muted">Fitted on the lines up to ${esc(bt.calibration_end)}, predicting the ${bt.holdout_days} days to
        ${esc(bt.observation_end)}: ${fmt(bt.predicted_orders, 0)} purchase days predicted, ${fmt(bt.actual_orders, 0)} made;
        mean absolute error ${fmt(bt.mean_absolute_error, 3)} a customer.</p>
      ${chart("/v1/clv/calibration.svg", "Backtest: mean predicted and actual holdout purchases by calibration purchases")}</section>`
    : `<section class="card muted" id="backtest">No backtest yet: refresh with <code>?holdout_days=90</code>.</section>`;
  view.innerHTML = `<h1>Predicted value</h1>
    <div class="facts" id="value-facts">
      <div><span>Observed to</span>${esc(m.observation_end)}</div>
      <div><span>Customers with a prediction</span>${fmt(m.customers_with_clv, 0)}</div>
      <div><span>Expected purchase days, next ${m.settings.horizon_days} days</span>${fmt(m.total_expected_orders, 0)}</div>
      <div><span>Predicted value, next ${m.months} months</span>${fmt(m.total_value, 0)}</div>
      <div><span>Refreshed</span>${when(m.fitted_at)}</div></div>
    <div class="columns">
      <section class="card"><h2>Models</h2>
        <table id="clv-params"><thead><tr><th>Parameter</th><th class="num">Value</th><th class="num">Std. error</th></tr></thead><tbody>${params}</tbody></table>
        <p class="muted">BG/NBD (who buys again and how often) on ${fmt(bg.customers, 0)} customers, Gamma-Gamma (order value)
          on the ${fmt(gg.customers, 0)} with a repeat purchase; mean order value ${fmt(gg.population_mean_order_value, 2)}.
          ${limits.length ? `At a limit of the model: ${esc(limits.join(", "))}.` : ""}</p></section>
      <section class="card"><h2>How predicted value is spread</h2>
        <div class="bars" id="value-histogram" role="img" aria-label="Customers by predicted value, ${bins.length} bins">${bars}</div>
        <p class="muted axis"><span>${fmt(bins.length ? bins[0].from : 0, 0)}</span><span>tallest bar: ${fmt(most, 0)} customers</span><span>${fmt(bins.length ? bins[bins.length - 1].from : 0, 0)} and more</span></p>
        ${decileRow}</section></div>
    <section class="card" id="alive-card"><h2>Probability alive</h2>
      <p class="muted">For a customer first seen ${fmt(T, 0)} days before the end: by purchase days after the first (rows) and the
        days from the first to the last purchase (columns).</p>
      <div class="scroll"><table id="alive-matrix"><thead><tr><th class="num">Repeat days</th>${recencies.map(r => `<th class="num">${r}</th>`).join("")}</tr></thead>
        <tbody>${matrix}</tbody></table></div></section>
    <div class="charts">${backtest}</div>`;
  watchImages(view);
}

// Find a customer by id.
function customerSearch(message) {
  view.innerHTML = `<h1>Customers</h1>
    <form id="customer-search" class="card"><label>Customer id <input id="customer-id" required size="30"
      placeholder="e.g. 0001"></label> <button type="submit">Show</button>
      ${message ? `<p class="error" role="alert">${esc(message)}</p>` : ""}</form>`;
  document.getElementById("customer-search").addEventListener("submit", event => {
    event.preventDefault();
    location.hash = `#/customers/${encodeURIComponent(document.getElementById("customer-id").value.trim())}`;
  });
}

// A customer: attributes, and per segmentation the segment now and in earlier runs.
async function customerPage(id) {
  let customer;
  try {
    customer = await api(`/v1/customers/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e instanceof SignInNeeded || !e.message.startsWith("404")) throw e;
    customerSearch(`No customer has the id ${id}.`);
    return;
  }
  const { segmentations } = await api("/v1/segmentations");
  const lookups = await Promise.all(segmentations.map(s =>
    api(`/v1/segmentations/${s.id}/customers/${encodeURIComponent(id)}`).then(l => [s, l], () => [s, null])));
  const attributes = Object.entries(customer.attributes).map(([k, v]) =>
    `<tr><th>${esc(k)}</th><td class="${typeof v === "number" ? "num" : ""}">${fmt(v)}</td></tr>`).join("");
  const segment = r => r.segment_id === null || r.segment_id === undefined
    ? `<span class="muted">noise</span>`
    : `<a href="#/runs/${r.run_id}/segments/${r.segment_id}">#${r.segment_id} ${esc(r.label)}</a>${r.persona ? ` <span class="muted">(${esc(r.persona)})</span>` : ""}`;
  const blocks = lookups.filter(([, l]) => l).map(([s, l]) => {
    const history = l.history.map(r => `<tr><td><a href="#/runs/${r.run_id}">${when(r.finished_at)}</a>${r.run_id === l.active_run_id ? `<span class="badge active">active</span>` : ""}</td>
      <td>${segment(r)}</td><td class="num">${fmt(r.score, 3)}</td></tr>`).join("");
    return `<section class="card" data-segmentation="${esc(s.id)}"><h2><a href="#/segmentations/${s.id}">${esc(s.name)}</a></h2>
      <p class="current">Now: ${l.current ? segment(l.current) : `<span class="muted">not in the active run</span>`}</p>
      <table><thead><tr><th>Run</th><th>Segment</th><th class="num">${l.score === "probability" ? "Probability" : "Distance"}</th></tr></thead>
      <tbody>${history || `<tr><td colspan="3" class="muted">No kept run has segmented this customer.</td></tr>`}</tbody></table></section>`;
  });
  const a = customer.attributes;
  const value = typeof a.clv_p_alive === "number" ? `<section class="card" id="customer-value"><h2>Predicted value</h2>
      <div class="facts"><div><span>Probability alive</span>${fmt(a.clv_p_alive * 100, 1)}%</div>
      <div><span>Expected purchase days</span>${fmt(a.clv_expected_orders, 2)}</div>
      <div><span>Expected order value</span>${fmt(a.clv_expected_order_value, 2)}</div>
      <div><span>Predicted value</span>${fmt(a.clv_value, 2)}</div></div>
      <p class="muted"><a href="#/value">The model</a></p></section>` : "";
  view.innerHTML = `<p class="muted"><a href="#/customers">Customers</a></p><h1 id="customer">Customer ${esc(customer.id)}</h1>
    ${value}<div class="columns"><section class="card"><h2>Attributes</h2><table id="attributes"><tbody>${attributes}</tbody></table>
      <p class="muted">Added ${when(customer.created_at)}, changed ${when(customer.updated_at)}</p></section>
    <div id="segments-of-customer">${blocks.join("") || `<div class="card muted">No segmentation yet.</div>`}</div></div>`;
}

// Signing in: the key goes to the server once, which keeps it in an HttpOnly,
// SameSite=Strict cookie for this browser session (this script never stores it).
function signIn(reason) {
  view.innerHTML = `<h1>Sign in</h1>
    <form id="sign-in" class="card" autocomplete="off">
      <p>${esc(reason)}. Paste an API key with the <code>read</code> scope (and <code>train</code> to
        retrain): the first start saved one in <code>.segstore/admin.key</code>; others come from
        <code>segstore keys create</code>.</p>
      <label>API key <input id="key" type="password" required placeholder="segk_…" size="60"></label>
      <button type="submit">Sign in</button>
      <p id="sign-in-error" class="error" role="alert" hidden></p>
    </form>`;
  document.getElementById("sign-in").addEventListener("submit", async event => {
    event.preventDefault();
    const key = document.getElementById("key").value.trim();
    const response = await fetch("/dashboard/session", { method: "POST", headers: { Authorization: `Bearer ${key}` } });
    if (response.ok) {
      signedIn(true);
      route();
    } else {
      const body = await response.json().catch(() => null);
      const error = document.getElementById("sign-in-error");
      error.textContent = body && body.detail ? body.detail : response.statusText;
      error.hidden = false;
    }
  });
}

function signedIn(yes) {
  document.getElementById("sign-out").hidden = !yes;
}

document.getElementById("sign-out").addEventListener("click", async event => {
  event.preventDefault();
  await fetch("/dashboard/session", { method: "DELETE" });
  signedIn(false);
  signIn("Signed out");
});

async function route() {
  clearTimeout(timer);
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  try {
    const part = i => decodeURIComponent(parts[i] || "");
    if (parts[0] === "runs" && parts[1] && parts[2] === "segments" && parts[3]) {
      await membersPage(parts[1], parts[3], parts[4] === "after" ? part(5) : null);
    } else if (parts[0] === "runs" && parts[1]) await runPage(parts[1]);
    else if (parts[0] === "customers" && parts[1]) await customerPage(part(1));
    else if (parts[0] === "customers") customerSearch();
    else if (parts[0] === "segmentations" && parts[1]) await segmentationPage(parts[1]);
    else if (parts[0] === "value") await valuePage();
    else await home();
    signedIn(true);
  } catch (e) {
    if (e instanceof SignInNeeded) {
      signedIn(false);
      signIn(e.message);
    } else failure(e);
  }
}

window.addEventListener("hashchange", route);
route();
