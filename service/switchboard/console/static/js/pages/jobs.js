// Jobs and cache: durable jobs queued and running (GET /admin/jobs), one job by id (GET /jobs/{id} and its
// steps), and what the response cache holds and hits (GET /admin/cache).

import {api} from "../api.js";
import {$, clear, el, facts, pct, usd} from "../dom.js";
import {Poller} from "./poller.js";

let wired = false;

async function refresh() {
  const [jobs, cache] = await Promise.all([api("GET", "/admin/jobs"), api("GET", "/admin/cache")]);
  if (!jobs.available) {
    facts($("jobs-facts"), [["Jobs", jobs.reason]]);
    clear($("jobs-table").tBodies[0]);
  } else {
    facts($("jobs-facts"), [["Queued", String(jobs.queued)], ["Running", String(jobs.running)]]);
    clear($("jobs-table").tBodies[0]).append(...jobs.jobs.map((job) => el("tr", {},
      el("td", {class: "small", text: job.id}), el("td", {text: job.pipeline}), el("td", {text: job.status}),
      el("td", {text: job.current_step ?? "—"}), el("td", {text: job.tenant ?? "—"}),
      el("td", {text: new Date(job.started_at * 1000).toLocaleTimeString()}))));
  }
  const pairs = [["Enabled", cache.enabled ? "yes" : "no (no route uses it)"]];
  if (cache.enabled) {
    pairs.push(["Store", cache.store], ["Exact entries", String(cache.entries.exact)],
               ["Semantic entries", String(cache.entries.semantic)], ["Bytes", String(cache.bytes)],
               ["Semantic index", cache.semantic ? "on" : "off"]);
  }
  pairs.push(["Hit rate, last hour", `${pct(cache.last_hour.cache_hit_rate)} (${cache.last_hour.cache_hits} of ${cache.last_hour.cache_lookups})`],
             ["Hit rate, 5 min", `${pct(cache.last_5m.cache_hit_rate)} (${cache.last_5m.cache_hits} of ${cache.last_5m.cache_lookups})`],
             ["Saved, last hour", usd(cache.last_hour.saved_by_cache_usd)], ["Replica", cache.replica]);
  facts($("cache-facts"), pairs);
}

async function look() {
  const id = $("job-id").value.trim();
  $("job-error").textContent = "";
  if (!id) return;
  try {
    const job = await api("GET", `/jobs/${encodeURIComponent(id)}`);
    const steps = await api("GET", `/jobs/${encodeURIComponent(id)}/steps`);
    $("job-detail").textContent = JSON.stringify({job, steps}, null, 2);
    $("job-detail").hidden = false;
  } catch (error) {
    $("job-detail").hidden = true;
    $("job-error").textContent = error.message;
  }
}

const poller = new Poller(refresh, 3000);

export const jobs = {
  name: "jobs",
  start() {
    if (!wired) {
      $("job-look").addEventListener("click", look);
      wired = true;
    }
    poller.start();
  },
  stop() {
    poller.stop();
  },
};
