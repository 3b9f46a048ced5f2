// Building the page from data: every value goes in as text (textContent or a text node), never as HTML.
// Nothing here parses markup from data (no HTML-string APIs), and no attribute that can run or load anything is set from data.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

export function facts(dl, pairs) {
  clear(dl);
  for (const [term, value] of pairs) {
    dl.append(el("dt", {text: term}), el("dd", {}, value === null || value === undefined ? "—" : value));
  }
}

export function badge(text, tone) {
  return el("span", {class: `badge ${tone || ""}`, text});
}

export function usd(value) {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "$0";
  return value < 0.01 ? `$${value.toPrecision(3)}` : `$${value.toFixed(4)}`;
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function pct(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
}

export function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString();
}

export function stateTone(state) {
  if (state === "ready" || state === "forced_closed" || state === "closed" || state === "active") return "ok";
  if (state === "drained" || state === "half_open" || state === "breaker_half_open") return "warn";
  return "bad";
}
