// Keys: every API key with today's usage against its limits (GET /admin/keys), minting one (POST /admin/keys:
// its secret shown once, here, and nowhere else), and revoking (DELETE /admin/keys/{id}, confirmed by a second
// click).

import {api} from "../api.js";
import {$, badge, clear, el, stateTone, usd} from "../dom.js";
import {Poller} from "./poller.js";

let wired = false;

function number(id) {
  const raw = $(id).value.trim();
  return raw === "" ? null : Number(raw);
}

function against(used, limit, format) {
  const text = format(used || 0);
  return limit ? `${text} / ${format(limit)}` : text;
}

const armed = new Set();  // keys whose Revoke was clicked once (kept across refreshes of the table)

function revokeButton(record) {
  const button = el("button", {type: "button", class: "danger", dataset: {revoke: record.id},
                               text: armed.has(record.id) ? "Confirm revoke" : "Revoke"});
  button.addEventListener("click", async () => {
    if (!armed.has(record.id)) {
      armed.add(record.id);
      button.textContent = "Confirm revoke";
      return;
    }
    armed.delete(record.id);
    try {
      await api("DELETE", `/admin/keys/${encodeURIComponent(record.id)}`);
    } catch (error) {
      $("key-error").textContent = error.message;
    }
    await refresh();
  });
  return button;
}

async function refresh() {
  const data = await api("GET", "/admin/keys");
  const rows = data.keys.sort((a, b) => b.created_at - a.created_at).map((record) => {
    const today = record.today || {};
    return el("tr", {dataset: {key: record.id, status: record.status}},
      el("td", {text: record.id}), el("td", {text: record.tenant}), el("td", {text: record.tier}),
      el("td", {}, badge(record.status, stateTone(record.status))),
      el("td", {class: "num", text: against(today.requests, null, String)}),
      el("td", {class: "num", text: against(today.tokens, record.tpm, String)}),
      el("td", {class: "num", text: against(today.cost_usd, record.budget_usd_day, usd)}),
      el("td", {text: record.expires_at ? new Date(record.expires_at * 1000).toISOString().slice(0, 16) : "never"}),
      el("td", {}, record.status === "active" ? revokeButton(record) : ""));
  });
  clear($("keys-table").tBodies[0]).append(...rows);
}

async function tiers() {
  const data = await api("GET", "/admin/config");
  const select = $("key-tier");
  clear(select).append(...data.tiers.map((tier) => el("option", {value: tier, text: tier})));
}

async function create(event) {
  event.preventDefault();
  $("key-error").textContent = "";
  const spec = {tenant: $("key-tenant").value.trim(), tier: $("key-tier").value};
  for (const [field, id] of [["rpm", "key-rpm"], ["tpm", "key-tpm"], ["budget_usd_day", "key-budget"]]) {
    const value = number(id);
    if (value !== null) spec[field] = value;
  }
  const expires = $("key-expires").value.trim();
  if (expires) spec.expires = expires;
  try {
    const created = await api("POST", "/admin/keys", spec);
    $("new-key-secret").textContent = created.key;
    $("new-key").hidden = false;
    $("key-form").reset();
  } catch (error) {
    $("key-error").textContent = error.field ? `${error.field}: ${error.message}` : error.message;
  }
  await refresh();
}

const poller = new Poller(() => refresh().catch((error) => { $("key-error").textContent = error.message; }), 5000);

function dismiss() {
  $("new-key-secret").textContent = "";
  $("new-key").hidden = true;
}

export const keys = {
  name: "keys",
  start() {
    if (!wired) {
      $("key-form").addEventListener("submit", create);
      $("new-key-dismiss").addEventListener("click", dismiss);
      wired = true;
    }
    tiers().catch(() => {});
    poller.start();
  },
  stop() {
    poller.stop();
    dismiss();  // the secret leaves the page with its page
  },
};
