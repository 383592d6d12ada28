// The dashboard's script, served as /_lb/assets/dashboard.<hash>.js (dashboard-assets.ts) so the
// page's Content-Security-Policy allows no inline script. It polls /_lb/status every 2 s, keeps
// the last 5 minutes of the counters' differences in the page, and draws them with uPlot (served
// the same way): per pool, requests per second and error rate per backend, and the pool's p50
// and p99 latency from its histogram. The table below redraws with each poll; the admin buttons
// post with the session cookie (the browser adds the Origin the server checks). A 401 means the
// session expired: back to sign-in. Plain ES2020 in a string: no build step, and no backtick or
// dollar-brace in it, since it sits in a template literal.
import { MAX_WEIGHT } from "../state/patch.ts";

export const DASHBOARD_SCRIPT = `"use strict";
(function () {
  var POLL_MS = 2000;
  var WINDOW_S = 300;
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  var pools = {};
  var meta = document.getElementById("meta");
  var host = document.getElementById("pools");

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  // Pool-qualified, so two pools' backends of one name stay apart.
  function actionUrl(pool, name, action) {
    return "/_lb/pools/" + encodeURIComponent(pool) + "/backends/" + encodeURIComponent(name) + "/" + action;
  }

  async function act(pool, name, action, body) {
    var init = body === undefined ? { method: "POST" }
      : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
    var response = await fetch(actionUrl(pool, name, action), init);
    if (response.status === 401) { location.href = "/_lb/login"; return; }
    if (!response.ok) {
      var refusal = await response.json().catch(function () { return {}; });
      meta.textContent = action + ": " + (refusal.reason || response.status);
    } else refresh();
  }

  /** The q-quantile in ms of one interval's bucket counts (linear within a bucket, like histogram_quantile). */
  function quantile(q, counts, bounds) {
    var total = 0;
    for (var i = 0; i < counts.length; i++) total += counts[i];
    if (total === 0) return null;
    var rank = q * total, seen = 0;
    for (var j = 0; j < counts.length; j++) {
      if (seen + counts[j] >= rank && counts[j] > 0) {
        if (j >= bounds.length) return bounds[bounds.length - 1] * 1000;
        var lower = j === 0 ? 0 : bounds[j - 1];
        return (lower + (bounds[j] - lower) * ((rank - seen) / counts[j])) * 1000;
      }
      seen += counts[j];
    }
    return null;
  }

  function requestsOf(counters) {
    var r = counters.responses;
    return r["1xx"] + r["2xx"] + r["3xx"] + r["4xx"] + r["5xx"];
  }

  function chart(title, series, target, unit) {
    // Three to a row where there is room (each box adds its border, padding and the gap).
    var width = Math.max(280, Math.min(520, Math.floor((host.clientWidth - 3 * 32) / 3)));
    var opts = {
      title: title,
      width: width,
      height: 180,
      // What there is of the last 5 minutes (older points are dropped), and at least a minute.
      scales: { x: { time: true, range: function (u, min, max) { return [Math.min(min, max - 60), max]; } } },
      axes: [{}, { size: 56, values: function (u, ticks) { return ticks.map(function (t) { return t + unit; }); } }],
      series: [{}].concat(series.map(function (label, i) {
        return { label: label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false };
      })),
    };
    var data = [[]].concat(series.map(function () { return []; }));
    return new uPlot(opts, data, target);
  }

  /** The section of one pool: built on the first poll, kept after (only its contents change). */
  function sectionOf(pool) {
    var state = pools[pool.name];
    if (state) return state;
    var section = document.createElement("section");
    section.className = "pool";
    section.dataset.pool = pool.name;
    section.innerHTML = "<h2>" + esc(pool.name) + " <small class=algorithm></small></h2><p class=store></p>" +
      "<div class=charts></div><table class=backends><thead><tr><th>backend</th><th>url</th><th>weight</th><th>health</th>" +
      "<th>admin</th><th>in flight</th><th>latency ms</th><th>affinity req/min</th><th></th></tr></thead><tbody></tbody></table>";
    host.appendChild(section);
    var names = pool.backends.map(function (b) { return b.name; });
    var charts = section.querySelector(".charts");
    var box = function (kind) {
      var div = document.createElement("div");
      div.className = "chart";
      div.dataset.chart = kind;
      charts.appendChild(div);
      return div;
    };
    state = {
      section: section,
      names: names,
      history: [[]].concat(names.map(function () { return []; })),
      errors: [[]].concat(names.map(function () { return []; })),
      latency: [[], [], []],
      last: undefined,
      charts: {
        rps: chart("requests/s", names, box("rps"), ""),
        errors: chart("error rate", names, box("errors"), "%"),
        latency: chart("latency (pool)", ["p50", "p99"], box("latency"), " ms"),
      },
    };
    pools[pool.name] = state;
    return state;
  }

  function record(state, pool, bounds, now) {
    var counters = {};
    pool.backends.forEach(function (b) { counters[b.name] = b.counters; });
    var last = state.last;
    // A refresh right after an action would make a rate of a fraction of a second: skipped.
    if (last && now - last.at < 1000) return;
    state.last = { at: now, counters: counters };
    if (!last) return;
    var seconds = (now - last.at) / 1000;
    var x = now / 1000;
    state.history[0].push(x);
    state.errors[0].push(x);
    state.latency[0].push(x);
    var merged = bounds.map(function () { return 0; }).concat([0]);
    state.names.forEach(function (name, i) {
      var was = last.counters[name], is = counters[name];
      if (!was || !is) { state.history[i + 1].push(null); state.errors[i + 1].push(null); return; }
      state.history[i + 1].push(Math.max(0, requestsOf(is) - requestsOf(was)) / seconds);
      var attempts = is.attempts - was.attempts;
      state.errors[i + 1].push(attempts > 0 ? (100 * (is.errors - was.errors)) / attempts : null);
      for (var k = 0; k < merged.length; k++) merged[k] += Math.max(0, is.latency.buckets[k] - was.latency.buckets[k]);
    });
    state.latency[1].push(quantile(0.5, merged, bounds));
    state.latency[2].push(quantile(0.99, merged, bounds));
    var oldest = x - WINDOW_S;
    [state.history, state.errors, state.latency].forEach(function (data) {
      while (data[0].length && data[0][0] < oldest) data.forEach(function (column) { column.shift(); });
    });
    state.charts.rps.setData(state.history);
    state.charts.errors.setData(state.errors);
    state.charts.latency.setData(state.latency);
    state.section.querySelector(".charts").dataset.points = String(state.history[0].length);
  }

  function row(pool, b) {
    var name = esc(b.name);
    return "<tr data-backend=\\"" + name + "\\"><td>" + name + (b.backup ? " (backup)" : "") + "</td><td>" + esc(b.url) +
      "</td><td data-field=weight>" + b.weight +
      (b.weight !== b.configured_weight ? " <small>(configured " + b.configured_weight + ")</small>" : "") +
      "</td><td data-field=health class=" + esc(b.health) + ">" + esc(b.health) +
      (b.ejected_until ? " <span class=ejected>ejected</span>" : "") + (b.reason ? " <small>" + esc(b.reason) + "</small>" : "") +
      "</td><td data-field=admin class=" + esc(b.admin) + ">" + esc(b.admin) +
      (b.drain_until ? " <small>sessions for " + Math.max(0, Math.ceil((Date.parse(b.drain_until) - Date.now()) / 1000)) + " s</small>" : "") +
      "</td><td data-field=inflight>" + b.inflight + "</td><td>" + (b.latency_ewma_ms === null ? "" : b.latency_ewma_ms) +
      "</td><td>" + b.affinity_requests_last_minute + "</td><td class=actions>" +
      "<input type=number min=0 step=1 size=4 placeholder=s data-drain=\\"" + name + "\\" aria-label=\\"seconds the drain keeps sessions of " + name + "\\">" +
      ["drain", "disable", "enable"].map(function (a) {
        return "<button data-pool=\\"" + esc(pool) + "\\" data-name=\\"" + name + "\\" data-action=" + a + ">" + a + "</button>";
      }).join("") +
      " <input type=number min=0 max=${MAX_WEIGHT} step=1 size=4 data-weight=\\"" + name + "\\" value=" + b.weight +
      " aria-label=\\"weight of " + name + "\\"><button data-pool=\\"" + esc(pool) + "\\" data-name=\\"" + name +
      "\\" data-action=weight>set weight</button></td></tr>";
  }

  function draw(pool, state) {
    state.section.querySelector(".algorithm").textContent = pool.algorithm + (pool.panic ? " — panic" : "");
    var store = pool.store;
    state.section.querySelector(".store").innerHTML = "store <code>" + esc(store.kind) + "</code>: " +
      (store.degraded ? "<b class=down>degraded</b>" + (store.lastError ? " <small>" + esc(store.lastError) + "</small>" : "") : "<span class=up>reachable</span>") +
      ", " + store.roundTrips + " round trips, " + store.errors + " errors" +
      (pool.view_age_ms === null ? "" : ", view " + pool.view_age_ms + " ms old");
    // Redrawing would wipe a weight or drain time being typed: the table waits until the field is left.
    if (document.activeElement && state.section.contains(document.activeElement) && document.activeElement.matches("input")) return;
    // Only this table's body: each chart's legend is a table of its own.
    state.section.querySelector("table.backends > tbody").innerHTML = pool.backends.map(function (b) { return row(pool.name, b); }).join("");
  }

  async function refresh() {
    var response = await fetch("/_lb/status");
    if (response.status === 401) { location.href = "/_lb/login"; return; }
    if (!response.ok) { meta.textContent = "status: " + response.status; return; }
    var status = await response.json();
    var now = Date.now();
    meta.textContent = "instance " + status.instance + ", " + new Date(now).toLocaleTimeString();
    status.pools.forEach(function (pool) {
      var state = sectionOf(pool);
      record(state, pool, status.latency_buckets_s, now);
      draw(pool, state);
    });
  }

  document.addEventListener("click", function (e) {
    var d = e.target.dataset;
    if (!d || !d.action) return;
    if (d.action === "drain") {
      var seconds = Array.prototype.find.call(document.querySelectorAll("input[data-drain]"), function (i) { return i.dataset.drain === d.name; });
      // Empty: the drain keeps sessions for DRAIN_SECONDS.
      act(d.pool, d.name, "drain", seconds && seconds.value.trim() !== "" ? { seconds: Number(seconds.value) } : undefined);
      return;
    }
    if (d.action !== "weight") { act(d.pool, d.name, d.action); return; }
    var field = Array.prototype.find.call(document.querySelectorAll("input[data-weight]"), function (i) { return i.dataset.weight === d.name; });
    // An empty field is sent as null (refused), not as Number("") = 0, which would stop the backend.
    act(d.pool, d.name, "weight", { weight: field.value.trim() === "" ? null : Number(field.value) });
  });

  function poll() {
    refresh().catch(function (error) { meta.textContent = "status: " + error.message; }).finally(function () {
      setTimeout(poll, POLL_MS);
    });
  }
  poll();
})();
`;
