// Requests: a live tail of this replica's recent requests (GET /admin/requests, polled with `after`), filtered
// by tenant, status and provider; a row's whole route on click (GET /admin/requests/{id}). Prompts, metadata
// and tenant names are shown as text only.

import {api, query} from "../api.js";
import {$, badge, clear, clock, el, facts, ms, usd} from "../dom.js";
import {Poller} from "./poller.js";

const SHOWN = 200;
let lastSeq = 0;
let replica = "";
const shown = new Set();
let wired = false;

function filters() {
  return {tenant: $("filter-tenant").value.trim(), status: $("filter-status").value,
          provider: $("filter-provider").value};
}

function path(record) {
  return record.attempts.map((a) => `${a.target} ${a.outcome}`).join(" → ");
}

function row(record) {
  const tone = record.status >= 500 || record.error ? "bad" : record.status >= 400 ? "warn" : "ok";
  const tr = el("tr", {dataset: {id: record.id, seq: record.seq}},
    el("td", {text: clock(record.time)}),
    el("td", {text: record.tenant ?? "—"}),
    el("td", {}, badge(record.error ? `${record.status} ${record.error}` : String(record.status), tone)),
    el("td", {text: record.front_door}),
    el("td", {text: record.route}),
    el("td", {text: record.provider ? `${record.provider}:${record.model}` : "—"}),
    el("td", {class: "small", text: path(record)}),
    el("td", {class: "num", text: usd(record.cost_usd)}),
    el("td", {class: "num", text: ms(record.latency_ms)}),
    el("td", {class: "num", text: ms(record.first_token_ms)}),
    el("td", {text: record.cache ?? "—"}),
    el("td", {class: "prompt", title: record.preview ?? "", text: record.preview ?? ""}));
  tr.addEventListener("click", () => show(record.id, tr));
  return tr;
}

async function show(id, tr) {
  for (const other of document.querySelectorAll("#tail tr.selected")) other.classList.remove("selected");
  tr.classList.add("selected");
  const detail = $("request-detail");
  try {
    const record = await api("GET", `/admin/requests/${encodeURIComponent(id)}`);
    const decision = record.decision || {};
    const attempts = el("table", {class: "grid", id: "detail-attempts"},
      el("thead", {}, el("tr", {}, ["Target", "Outcome", "Status", "Wait", "Latency", "Detail"].map((h) => el("th", {text: h})))),
      el("tbody", {}, record.attempts.map((a) => el("tr", {},
        el("td", {text: a.target}), el("td", {}, badge(a.outcome, a.outcome === "ok" ? "ok" : "bad")),
        el("td", {text: a.status ?? "—"}), el("td", {class: "num", text: ms(a.wait_ms)}),
        el("td", {class: "num", text: ms(a.latency_ms)}),
        el("td", {class: "small", text: [a.detail, a.host, a.missing && a.missing.join(", ")].filter(Boolean).join(" · ")})))));
    const dl = el("dl", {class: "facts"});
    facts(dl, [
      ["Request", record.id], ["Time", new Date(record.time * 1000).toISOString()],
      ["Tenant", record.tenant], ["Key", record.key_id], ["Tier", record.tier],
      ["Status", record.error ? `${record.status} (${record.error})` : String(record.status)],
      ["Route", record.route], ["Rule", decision.rule], ["Reason", record.reason],
      ["Task type", record.task_type], ["Complexity", decision.complexity],
      ["Answered by", record.provider ? `${record.provider}:${record.model}` : null],
      ["Cost", usd(record.cost_usd)], ["Tokens", `${record.usage.input_tokens} in, ${record.usage.output_tokens} out`],
      ["Latency", ms(record.latency_ms)], ["TTFT", ms(record.first_token_ms)], ["Cache", record.cache],
      ["Finish", record.finish_reason],
    ]);
    clear(detail).append(el("h2", {text: "Request"}), dl, el("h3", {text: "Attempts"}), attempts,
      el("h3", {text: "Prompt (last user message, cut)"}), el("pre", {class: "code", id: "detail-prompt", text: record.preview ?? ""}),
      el("h3", {text: "Metadata"}), el("pre", {class: "code", id: "detail-metadata",
                                               text: record.metadata ? JSON.stringify(record.metadata, null, 2) : "—"}));
    detail.hidden = false;
  } catch (error) {
    clear(detail).append(el("p", {class: "error", text: error.message}));
    detail.hidden = false;
  }
}

async function refresh() {
  if (!$("live").checked && lastSeq) return;
  const data = await api("GET", `/admin/requests${query({...filters(), after: lastSeq, replica, limit: SHOWN})}`);
  $("requests-kept").textContent = `${data.kept} of the last ${data.keep} kept on ${data.replica}`;
  const body = $("tail").tBodies[0];
  // Several processes may share the port: each answers with its own records, merged here by id and time.
  for (const record of data.records.slice().reverse()) {
    if (shown.has(record.id)) continue;
    shown.add(record.id);
    const tr = row(record);
    tr.dataset.time = record.time;
    const later = [...body.rows].find((other) => Number(other.dataset.time) <= record.time);
    body.insertBefore(tr, later || null);
  }
  while (body.rows.length > SHOWN) {
    shown.delete(body.rows[body.rows.length - 1].dataset.id);
    body.deleteRow(body.rows.length - 1);
  }
  lastSeq = data.last_seq;
  replica = data.replica;
}

async function providers() {
  const data = await api("GET", "/admin/config");
  const select = $("filter-provider");
  const chosen = select.value;
  clear(select).append(el("option", {value: "", text: "any"}),
                       ...Object.keys(data.config.providers).map((name) => el("option", {value: name, text: name})));
  select.value = chosen;
}

function restart() {
  lastSeq = 0;
  shown.clear();
  clear($("tail").tBodies[0]);
  poller.start();
}

const poller = new Poller(refresh, 1500);

export const requests = {
  name: "requests",
  start() {
    if (!wired) {
      for (const id of ["filter-tenant", "filter-status", "filter-provider"]) $(id).addEventListener("change", restart);
      $("live").addEventListener("change", () => poller.start());
      wired = true;
      providers().catch(() => {});
    }
    restart();
  },
  stop() {
    poller.stop();
  },
};
