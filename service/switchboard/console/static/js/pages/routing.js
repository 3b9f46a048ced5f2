// Routing: the effective config (secrets masked), the rules in order, every chain (GET /admin/config), and a
// decide box: a prompt, as the admin key, a tier or a key → chain, rule, reason, classifier view
// (POST /admin/decide, the dry run of POST /decide).

import {api} from "../api.js";
import {$, clear, el, facts} from "../dom.js";

let loaded = false;

async function load() {
  const data = await api("GET", "/admin/config");
  clear($("rules")).append(...data.rules.map((rule) => el("li", {text: rule})));
  clear($("chains-table").tBodies[0]).append(...Object.entries(data.chains).map(([where, chain]) =>
    el("tr", {}, el("td", {text: where}), el("td", {class: "small", text: chain.join(" → ")}))));
  $("config-text").textContent = JSON.stringify(data.config, null, 2);
  $("config-source").textContent = `${data.file || "defaults only"} · generation ${data.generation ?? "—"}`;
  const as = $("decide-as");
  clear(as).append(el("option", {value: "", text: "the admin key"}),
                   ...data.tiers.map((tier) => el("option", {value: tier, text: `tier: ${tier}`})));
  const task = $("decide-task");
  clear(task).append(el("option", {value: "", text: "(classify)"}),
                     ...data.task_types.map((name) => el("option", {value: name, text: name})));
  loaded = true;
}

async function decide() {
  const text = $("decide-prompt").value;
  $("decide-error").textContent = "";
  if (!text.trim()) {
    $("decide-error").textContent = "Type a prompt first.";
    return;
  }
  const body = {request: {text}};
  const task = $("decide-task").value;
  if (task) body.request.task_type = task;
  const key = $("decide-key").value.trim();
  const tier = $("decide-as").value;
  if (key) body.key_id = key;
  else if (tier) body.tier = tier;
  try {
    const result = await api("POST", "/admin/decide", body);
    const decision = result.decision || {};
    facts($("decide-facts"), [
      ["As", result.as.key_id ? `key ${result.as.key_id} (${result.as.tenant}, tier ${result.as.tier})`
        : result.as.tier ? `tier ${result.as.tier}` : "the admin key"],
      ["Rule", result.rule],
      ["Reason", result.reason],
      ["Task type", result.task_type],
      ["Complexity", decision.complexity],
      ["Score", decision.score === undefined || decision.score === null ? null : decision.score.toFixed(3)],
      ["Confidence", decision.confidence === undefined || decision.confidence === null ? null
        : decision.confidence.toFixed(3)],
      ["Classifier", decision.classifier_ms === undefined || decision.classifier_ms === null ? "did not run"
        : `${decision.classifier_ms.toFixed(2)} ms`],
    ]);
    clear($("decide-chain")).append(...result.chain.map((target) => el("li", {text: target})));
    $("decide-result").hidden = false;
  } catch (error) {
    $("decide-result").hidden = true;
    $("decide-error").textContent = error.field ? `${error.field}: ${error.message}` : error.message;
  }
}

let wired = false;

export const routing = {
  name: "routing",
  start() {
    if (!wired) {
      $("decide-run").addEventListener("click", decide);
      wired = true;
    }
    load().catch((error) => { $("decide-error").textContent = error.message; });
  },
  stop() {},
};
