// The console's shell: sign in (the admin key, posted once, becomes an HttpOnly session cookie), the pages
// by the URL's #fragment, and polling only for the page on screen.

import {api, setCsrf, whenSignedOut} from "./api.js";
import {$} from "./dom.js";
import {overview} from "./pages/overview.js";
import {targets} from "./pages/targets.js";
import {routing} from "./pages/routing.js";
import {requests} from "./pages/requests.js";
import {keys} from "./pages/keys.js";
import {jobs} from "./pages/jobs.js";

const PAGES = {overview, targets, routing, requests, keys, jobs};
let current = null;

function showSignIn(message) {
  if (current) current.stop();
  current = null;
  setCsrf(null);
  for (const page of document.querySelectorAll(".page")) page.hidden = true;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("replica").textContent = "";
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("admin-key").focus();
}

function signedIn(session) {
  setCsrf(session.csrf);
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  $("replica").textContent = `replica ${session.replica}`;
  route();
}

function route() {
  if ($("nav").hidden) return;
  const name = (location.hash || "#overview").slice(1);
  const page = PAGES[name] || overview;
  if (current) current.stop();
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== `page-${page.name}`;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === page.name);
  current = page;
  page.start();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("admin-key");
  const key = input.value.trim();
  input.value = "";  // the key is not kept anywhere on the page
  $("sign-in-error").textContent = "";
  try {
    signedIn(await api("POST", "/console/session", {key}));
  } catch (error) {
    $("sign-in-error").textContent = error.status === 401 ? "That is not the admin key." : error.message;
  }
}

async function signOut() {
  try {
    await api("DELETE", "/console/session");
  } finally {
    showSignIn("Signed out.");
  }
}

async function boot() {
  whenSignedOut(() => showSignIn("Your session has ended: sign in again."));
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  try {
    signedIn(await api("GET", "/console/session"));
  } catch (_) {
    showSignIn("");
  }
}

boot();
