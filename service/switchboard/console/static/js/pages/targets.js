// Targets: every target's breaker, hold (who, why, until) and recent health from GET /admin/targets, with the
// operations verbs: drain, restore, force open, force closed (POST /admin/targets/{drain,restore,force}).

import {api} from "../api.js";
import {$, badge, clear, el, ms, pct, stateTone} from "../dom.js";
import {Poller} from "./poller.js";

function holdText(hold) {
  if (!hold) return "";
  const until = hold.until ? ` until ${hold.until}` : " until restored";
  return `${hold.action} by ${hold.by}${until}: ${hold.reason}`;
}

function scopeBody(provider, model) {
  const by = $("hold-by").value.trim();
  return {provider, model: model || null, ...(by ? {by} : {})};
}

async function act(verb, provider, model, state) {
  const message = $("targets-message");
  const reason = $("hold-reason").value.trim();
  const body = scopeBody(provider, model);
  if (verb !== "restore") {
    if (!reason) {
      message.textContent = "Give a reason first: it goes on the timeline and into every skipped attempt.";
      $("hold-reason").focus();
      return;
    }
    body.reason = reason;
    const forSeconds = $("hold-for").value;
    body.for_s = forSeconds ? Number(forSeconds) : null;
    if (verb === "force") body.state = state;
  } else if (reason) {
    body.reason = reason;
  }
  const scope = model ? `${provider}:${model}` : provider;
  try {
    const answer = await api("POST", `/admin/targets/${verb}`, body);
    const what = verb === "force" ? `forced ${state}` : verb === "drain" ? "drained" : "restored";
    message.textContent = `${scope} ${what} (${answer.targets.length} target${answer.targets.length === 1 ? "" : "s"}): ${answer.sharing}`;
  } catch (error) {
    message.textContent = `${scope}: ${error.message}`;
  }
  await refresh();
}

function button(text, verb, provider, model, state, tone) {
  return el("button", {type: "button", class: tone || "", text,
    dataset: {action: state ? `${verb}-${state}` : verb, provider, model: model || ""},
    onclick: () => act(verb, provider, model, state)});
}

async function refresh() {
  const data = await api("GET", "/admin/targets");
  $("targets-sharing").textContent = `holds ${data.sharing} · config generation ${data.config_generation}`;
  const providers = new Map();
  for (const row of data.targets) {
    if (!providers.has(row.provider)) providers.set(row.provider, []);
    providers.get(row.provider).push(row);
  }
  const providerRows = [...providers.entries()].map(([provider, rows]) => {
    const states = {};
    for (const row of rows) states[row.state] = (states[row.state] || 0) + 1;
    return el("tr", {dataset: {provider}},
      el("td", {text: provider}),
      el("td", {class: "num", text: rows.length}),
      el("td", {}, Object.entries(states).map(([state, count]) => [badge(`${state} × ${count}`, stateTone(state)), " "])),
      el("td", {}, el("div", {class: "actions"},
        button("Drain", "drain", provider, null, null, "danger"),
        button("Restore", "restore", provider, null, null))));
  });
  clear($("providers-table").tBodies[0]).append(...providerRows);
  const targetRows = data.targets.map((row) => {
    const recent = row.recent || {};
    return el("tr", {dataset: {target: row.target, state: row.state}},
      el("td", {text: row.target}),
      el("td", {}, badge(row.state, stateTone(row.state))),
      el("td", {}, badge(row.breaker, stateTone(row.breaker))),
      el("td", {class: "small", text: holdText(row.hold)}),
      el("td", {class: "num", text: pct(recent.error_rate)}),
      el("td", {class: "num", text: ms(recent.p50_ms)}),
      el("td", {class: "num", text: recent.attempts ?? 0}),
      el("td", {}, el("div", {class: "actions"},
        button("Drain", "drain", row.provider, row.model, null, "danger"),
        button("Restore", "restore", row.provider, row.model, null),
        button("Force open", "force", row.provider, row.model, "open", "danger"),
        button("Force closed", "force", row.provider, row.model, "closed"))));
  });
  clear($("targets-table").tBodies[0]).append(...targetRows);
}

const poller = new Poller(refresh, 3000);

export const targets = {
  name: "targets",
  start() {
    $("targets-message").textContent = "";
    poller.start();
  },
  stop() {
    poller.stop();
  },
};
