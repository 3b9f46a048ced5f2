// Overview: this replica's last hour from GET /admin/overview, refreshed every two seconds.

import {api} from "../api.js";
import {TimeChart} from "../charts.js";
import {$, clear, el, ms, pct, usd} from "../dom.js";
import {Poller} from "./poller.js";

let charts = null;

function tile(metric, label, value, sub) {
  return el("div", {class: "tile", dataset: {metric}},
    el("div", {class: "label", text: label}),
    el("div", {class: "value", text: value}),
    el("div", {class: "sub", text: sub || ""}));
}

async function refresh() {
  const data = await api("GET", `/admin/overview?window_s=${$("overview-window").value}`);
  const now = data.last_5m;
  const hour = data.totals;
  const live = data.live;
  const span = data.window_s === 3600 ? "last hour" : `last ${data.window_s / 60} min`;
  clear($("tiles")).append(
    tile("rps", "Requests/s", live.rps.toFixed(2), "last 10 s"),
    tile("requests", "Requests", String(now.requests), `last 5 min · ${hour.requests} in the ${span.slice(5)}`),
    tile("error_rate", "Error rate", pct(now.error_rate), `${now.failed} failed, ${now.refused} refused (5 min)`),
    tile("latency", "Latency p50 / p99", `${ms(now.p50_ms)} / ${ms(now.p99_ms)}`, "last 5 min"),
    tile("ttft", "TTFT p50 / p99", `${ms(now.ttft_p50_ms)} / ${ms(now.ttft_p99_ms)}`, "streamed, last 5 min"),
    tile("cache_hit_rate", "Cache hit rate", pct(hour.cache_hit_rate), `${hour.cache_hits} of ${hour.cache_lookups} lookups, ${span}`),
    tile("shed", "Shed", String(hour.shed), `503 overloaded, ${span}`),
    tile("spend", "Spend", usd(hour.spend_usd), span),
    tile("strong_share", "Strong share", pct(hour.strong_share), `of chat answers, ${span}`),
    tile("saved_routing", "Saved by routing", usd(hour.saved_by_routing_usd), `estimated, vs ${data.strong.baseline || "—"}`),
    tile("saved_cache", "Saved by the cache", usd(hour.saved_by_cache_usd), span),
    tile("in_flight", "In flight", `${live.in_flight ?? "—"}`, `of ${live.max_in_flight ?? "—"} (this worker)`),
  );
  const series = data.series;
  charts.requests.update(series.time, {requests: series.requests, failed: series.failed, refused: series.refused,
                                       shed: series.shed});
  charts.latency.update(series.time, {"p50": series.p50_ms, "p99": series.p99_ms, "TTFT p50": series.ttft_p50_ms,
                                      "TTFT p99": series.ttft_p99_ms});
  charts.provider.update(series.time, nonEmpty(series.spend_by_provider, series.time));
  charts.tenant.update(series.time, nonEmpty(series.spend_by_tenant, series.time));
  $("overview-updated").textContent = `updated ${new Date(data.time * 1000).toLocaleTimeString()} · ${data.replica}`;
  $("strong-rule").textContent = `Strong share and savings are estimates: ${data.strong.rule}.`;
}

function nonEmpty(byName, times) {
  return Object.keys(byName).length ? byName : {"(no spend yet)": times.map(() => 0)};
}

function resize() {
  if (charts) for (const chart of Object.values(charts)) chart.resize();
}

const poller = new Poller(refresh, 2000);

export const overview = {
  name: "overview",
  start() {
    if (!charts) {
      charts = {
        requests: new TimeChart($("chart-requests"), "Requests per minute", "count"),
        latency: new TimeChart($("chart-latency"), "Latency and time to first token", "ms"),
        provider: new TimeChart($("chart-provider-spend"), "Spend per provider (USD per minute)", "usd"),
        tenant: new TimeChart($("chart-tenant-spend"), "Spend per tenant (USD per minute)", "usd"),
      };
      window.addEventListener("resize", resize);
      $("overview-window").addEventListener("change", () => poller.start());
    }
    poller.start();
  },
  stop() {
    poller.stop();
  },
};
