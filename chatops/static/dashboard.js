// The house at a glance: device cards with live values and 24 h charts, switches, alerts, health, chat.
// One websocket carries everything (see chatops/web.py for the messages). No library, no CDN.
"use strict";

const DAY = 86400;
const $ = (id) => document.getElementById(id);
const devices = new Map();        // name -> device JSON from the hub
const series = new Map();         // name -> [[t, value], ...] over the last day
const simulatedUntil = new Map();  // name -> end of the demo's simulated past day (unix seconds)
const cards = new Map();          // name -> card element
let socket, may = {}, clockOffset = 0, requestId = 0, labels = {};
const t = (text) => labels[text] || text;    // the page's words in the web user's language (state.labels)
// 20.5 or 20,5 as the web user's language writes it, one decimal
const decimal = (value) => Number(value).toLocaleString(labels.language || "en",
  {minimumFractionDigits: 1, maximumFractionDigits: 1});

const serverNow = () => (Date.now() + clockOffset) / 1000;
window.chatops = {devices, series};     // for tests and curious people in the console

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function ago(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const span = seconds < 60 ? seconds + "s" : seconds < 3600 ? Math.floor(seconds / 60) + "m"
    : seconds < DAY ? Math.floor(seconds / 3600) + "h" + String(Math.floor(seconds % 3600 / 60)).padStart(2, "0")
    : Math.floor(seconds / DAY) + t("d");
  return t("{span} ago").replace("{span}", span);
}

function send(data) {
  if (socket && socket.readyState === 1) { socket.send(JSON.stringify(data)); return true; }
  return false;
}

// ---- device cards ------------------------------------------------------------------------------

function stateWord(device) {
  if (device.value === true) return "on";
  if (device.value === false) return "off";
  return device.value === null ? "unknown" : "value";
}

function buildCard(device) {
  const card = el("article", {class: "card", "data-device": device.name, "data-type": device.type},
    el("header", {}, el("h3", {}, device.label), el("span", {class: "age"})),
    el("div", {class: "value"}));
  if (device.type === "switch" || device.type === "light") {
    const button = (state, label) => el("button", {type: "button", "data-set": state, "aria-pressed": "false",
      onclick: () => switchDevice(device.name, state)}, label);
    card.append(el("div", {class: "actions"}, button("on", t("On")), button("off", t("Off"))));
  }
  card.append(...controlsFor(device));
  if (device.type === "camera") {
    card.append(el("div", {class: "actions"}, el("button", {type: "button", "data-snap": device.name,
      onclick: () => snap(device.name)}, t("Take a picture"))));
    card.append(el("div", {class: "image"}));
  }
  card.append(el("div", {class: "note"}));
  if (device.chart) card.append(el("canvas", {class: "chart", "aria-label": t("{label}, last 24 hours").replace("{label}", device.label)}));
  return card;
}

// Lights, thermostats, covers, numbers, selects: each sends `set DEVICE VALUE` as the web user.
function controlsFor(device) {
  const name = device.name, limits = device.limits || {min: 0, max: 100, step: 1};
  const slider = (field, label, min, max, step, unit) => {
    const input = el("input", {type: "range", min, max, step, "data-control": field, "aria-label": device.label + ": " + label});
    const shown = el("output", {"data-shows": field});
    input.addEventListener("input", () => { input.dataset.moving = "yes"; shown.textContent = input.value + unit; });
    // The unit goes with the value where it says which field: "40%" is brightness, "4000K" colour.
    // It follows the device again once its own value is answered (the thumb would jump back to
    // the old value until then), or once let go where it started (no change is sent then).
    input.addEventListener("change", () => setDevice(name, input.value + (["%", "K"].includes(unit.trim()) ? unit.trim() : "")));
    input.addEventListener("blur", () => { if (!cards.get(name)?.classList.contains("busy")) delete input.dataset.moving; });
    return el("label", {class: "slider"}, input, shown);
  };
  const button = (attrs, label, value) => el("button", {type: "button", ...attrs, onclick: () => setDevice(name, value())}, label);
  if (device.type === "light") {
    const rows = [slider("brightness", t("brightness"), 1, 100, 1, " %")];
    const kelvin = device.kelvin || {min: 2000, max: 6500};
    if (device.color_temp) rows.push(slider("kelvin", t("colour temperature"), kelvin.min, kelvin.max, 100, " K"));
    return rows;
  }
  if (device.type === "number") return [slider("value", t("value"), limits.min, limits.max, limits.step, device.unit ? " " + device.unit : "")];
  if (device.type === "climate") {
    const target = () => Number((devices.get(name).attrs || {}).target ?? limits.min);
    // Clicks while the last one is still being confirmed add up (three − are three steps).
    let asked = null;
    const nudge = (sign) => () => {
      const busy = cards.get(name)?.classList.contains("busy");
      const from = busy && asked !== null ? asked : target();
      asked = Number(Math.min(limits.max, Math.max(limits.min, from + sign * limits.step)).toFixed(2));
      return String(asked);
    };
    const modes = (device.modes || []).map((mode) =>
      button({"data-mode": mode}, (device.mode_labels || {})[mode] || mode, () => mode));
    return [el("div", {class: "actions thermostat"}, button({"data-nudge": "-", "aria-label": t("lower the target")}, "−", nudge(-1)),
      el("span", {class: "target", "data-shows": "target"}),
      button({"data-nudge": "+", "aria-label": t("raise the target")}, "+", nudge(1))),
      el("div", {class: "actions"}, ...modes)];
  }
  if (device.type === "cover") {
    return [el("div", {class: "actions"}, ...[["open", t("Open")], ["stop", t("Stop")], ["close", t("Close")]].map(
      ([word, label]) => button({"data-cover": word}, label, () => word)))];
  }
  if (device.type === "select") {
    const select = el("select", {"data-control": "select", "aria-label": device.label},
      ...(device.options || []).map((option) => el("option", {value: option}, option)));
    select.addEventListener("change", () => setDevice(name, select.value));
    return [el("div", {class: "actions"}, select)];
  }
  return [];
}

function renderControls(device, card) {
  const attrs = device.attrs || {};
  const busy = card.classList.contains("busy");
  for (const input of card.querySelectorAll("[data-control], button[data-mode], button[data-nudge], button[data-cover]"))
    input.disabled = !may.switch || (busy && !input.dataset.nudge);
  const set = (field, value, text) => {
    const input = card.querySelector(`input[data-control="${field}"]`);
    // Follows the device, except while a hand is on it (between its first move and letting go).
    if (input && value !== undefined && value !== null && !input.dataset.moving) input.value = value;
    const out = card.querySelector(`[data-shows="${field}"]`);
    if (out && value !== undefined && value !== null) out.textContent = text;
  };
  if (device.type === "light") {
    set("brightness", attrs.brightness, attrs.brightness + " %");
    if (attrs.color_temp) { const k = Math.round(1e6 / attrs.color_temp / 100) * 100; set("kelvin", k, k + " K"); }
  }
  if (device.type === "number") set("value", device.value, device.shown);
  if (device.type === "climate") {
    set("target", attrs.target, attrs.target === undefined ? "—" : decimal(attrs.target) + " " + (device.unit || "°C"));
    for (const b of card.querySelectorAll("button[data-mode]")) b.classList.toggle("active", b.dataset.mode === attrs.mode);
  }
  if (device.type === "cover") card.dataset.motion = attrs.motion || "";
  if (device.type === "select") { const select = card.querySelector("select"); if (select && document.activeElement !== select) select.value = device.value; }
}

function renderCard(name) {
  const device = devices.get(name), card = cards.get(name);
  if (!device || !card) return;
  card.dataset.state = stateWord(device);
  const value = card.querySelector(".value");
  if (device.type === "camera") value.textContent = "";
  else if (device.shown === null) value.textContent = "—";
  else if (typeof device.value === "number" && device.unit && !device.attrs) {
    value.textContent = device.shown.slice(0, -device.unit.length).trim();
    value.append(el("small", {}, device.unit));
  } else value.textContent = device.shown;
  for (const button of card.querySelectorAll("button[data-set]")) {
    const active = button.dataset.set === card.dataset.state;
    button.classList.toggle("active", active);
    button.setAttribute("aria-pressed", String(active));
    button.disabled = !may.switch;
  }
  renderControls(device, card);
  const snapButton = card.querySelector("button[data-snap]");
  if (snapButton) snapButton.disabled = !may.snap;
  renderAge(name);
  drawChart(name);
}

function renderAge(name) {
  const device = devices.get(name), card = cards.get(name);
  if (!device || !card || device.type === "camera") return;
  const age = device.at ? serverNow() - device.at : null;
  const stale = age !== null && age > device.stale_after;
  card.classList.toggle("stale", stale);
  card.querySelector(".age").textContent = age === null ? t("no reading yet") : (stale ? t("stale") + ", " : "") + ago(age);
}

function renderDevices(list) {
  const grid = $("devices");
  grid.replaceChildren();
  devices.clear(); cards.clear();
  for (const device of list) {
    devices.set(device.name, device);
    const card = buildCard(device);
    cards.set(device.name, card);
    grid.append(card);
    renderCard(device.name);
  }
  if (!list.length) grid.append(el("p", {}, t("No device to show (the web user may not read devices).")));
}

async function loadHistory(name) {
  try {
    const response = await fetch("/api/history?device=" + encodeURIComponent(name) + "&period=24h&points=288");
    if (!response.ok) return;
    const data = await response.json();
    const live = (series.get(name) || []).filter((p) => p[0] > (data.points.length ? data.points[data.points.length - 1][0] : 0));
    series.set(name, data.points.concat(live));
    if (data.simulated_until) simulatedUntil.set(name, data.simulated_until);
    drawChart(name);
  } catch (error) { /* the chart stays empty; live readings still draw */ }
}

function onReading(device) {
  const known = devices.get(device.name);
  devices.set(device.name, device);
  if (!cards.has(device.name)) {          // discovered while the page is open
    const card = buildCard(device);
    cards.set(device.name, card);
    $("devices").append(card);
  }
  if (known && known.type !== device.type) return;
  if (device.chart && device.at) {
    const points = series.get(device.name) || [];
    const value = typeof device.value === "boolean" ? (device.value ? 1 : 0) : device.value;
    if (typeof value === "number") points.push([device.at, value]);
    const since = serverNow() - DAY;
    while (points.length && points[0][0] < since) points.shift();
    series.set(device.name, points);
  }
  renderCard(device.name);
}

// ---- charts (canvas, drawn by hand) -----------------------------------------------------------

function drawChart(name) {
  const card = cards.get(name), device = devices.get(name);
  const canvas = card && card.querySelector("canvas.chart");
  if (!canvas || !device) return;
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (!width) return;
  canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const until = serverNow(), since = until - DAY;
  const points = (series.get(name) || []).filter((p) => p[0] >= since);
  const x = (t) => (t - since) / DAY * width;
  g.font = "10px system-ui, sans-serif";
  g.fillStyle = "#8a94a6"; g.strokeStyle = "#e6e9ef"; g.lineWidth = 1;
  const tick = new Date(since * 1000); tick.setMinutes(0, 0, 0);
  tick.setHours(Math.ceil(tick.getHours() / 6) * 6);
  while (tick.getTime() / 1000 < since) tick.setHours(tick.getHours() + 6);     // the first one inside the day
  let labelEnd = -Infinity;               // a label that would be cut at the edge or overlap the last is left out
  for (; tick.getTime() / 1000 < until; tick.setHours(tick.getHours() + 6)) {
    const px = x(tick.getTime() / 1000);
    g.beginPath(); g.moveTo(px, 0); g.lineTo(px, height - 12); g.stroke();
    const label = String(tick.getHours()).padStart(2, "0") + ":00", room = g.measureText(label).width;
    if (px + 2 + room <= width && px + 2 > labelEnd + 4) { g.fillText(label, px + 2, height - 2); labelEnd = px + 2 + room; }
  }
  if (!points.length) {                   // a web user who may not read history is told so, not "none yet"
    g.fillText(t(may.history ? "no history yet" : "history is not for the web user"), 4, 12); return;
  }
  const simulated = simulatedUntil.get(name);
  if (simulated && simulated > since) {   // the demo's simulated past day: shaded and named
    g.fillStyle = "rgba(138, 148, 166, 0.12)";
    g.fillRect(0, 0, x(simulated), height - 12);
    g.fillStyle = "#8a94a6";
    g.fillText(t("simulated"), Math.max(2, x(simulated) - 52), 10);
  }
  const boolean = typeof device.value === "boolean";
  const top = 4, bottom = height - 16;
  if (boolean) {                          // one band per run of "on"
    g.fillStyle = "#2f8f5b";
    let start = null;
    points.forEach((p, i) => {
      if (p[1] >= 0.5 && start === null) start = p[0];
      const last = i + 1 === points.length;
      if (start !== null && (p[1] < 0.5 || last)) {
        const end = p[1] < 0.5 ? p[0] : until;
        g.fillRect(x(start), top + 10, Math.max(1, x(end) - x(start)), bottom - top - 10);
        start = null;
      }
    });
    return;
  }
  const lowest = Math.min(...points.map((p) => p[1])), highest = Math.max(...points.map((p) => p[1]));
  let low = lowest, high = highest;
  if (high - low < 0.5) { low -= 0.25; high += 0.25; }    // room to draw a flat line: not a value
  const y = (v) => bottom - (v - low) / (high - low) * (bottom - top);
  g.strokeStyle = "#1f77b4"; g.lineWidth = 1.6; g.lineJoin = "round";
  g.beginPath();
  let previous = null;
  for (const [t, v] of points) {
    if (previous === null || t - previous > 1800) g.moveTo(x(t), y(v)); else g.lineTo(x(t), y(v));
    previous = t;
  }
  g.stroke();
  if (points.length === 1) {              // one reading so far: a dot, where a line needs two
    g.fillStyle = "#1f77b4"; g.beginPath(); g.arc(x(points[0][0]), y(points[0][1]), 2.5, 0, 2 * Math.PI); g.fill();
  }
  // The values seen, as the cards write them (20,1 in French); a flat line has one. A cover's
  // position is a percentage though its device has no unit.
  const unit = device.unit || (device.type === "cover" ? "%" : "");
  const fmt = (v) => Number(v).toLocaleString(labels.language || "en", {maximumFractionDigits: Math.abs(v) >= 100 ? 0 : 1})
    + (unit ? " " + unit : "");
  const marks = [[t("max {value}").replace("{value}", fmt(highest)), 10]];
  if (lowest !== highest) marks.push([t("min {value}").replace("{value}", fmt(lowest)), bottom - 2]);
  for (const [text, baseline] of marks) {
    g.fillStyle = "rgba(255, 255, 255, 0.8)";
    g.fillRect(0, baseline - 10, g.measureText(text).width + 6, 13);
    g.fillStyle = "#4b5b6e";
    g.fillText(text, 2, baseline);
  }
}

// ---- actions -----------------------------------------------------------------------------------

// How long an answer stays on its card: "heater is ON" would otherwise still be read there
// an hour later, after someone switched it off from the chat. A failure stays six times as
// long; a pending note ("switching…") until its answer replaces it. <body data-note-ms>
// shortens it (the tests).
const noteTimers = new Map();
const noteLasts = (error) => (Number(document.body.dataset.noteMs) || 10000) * (error ? 6 : 1);

function note(name, text, error, pending) {
  const card = cards.get(name), box = card && card.querySelector(".note");
  if (!box) return;
  box.textContent = text || "";
  box.classList.toggle("error", Boolean(error));
  clearTimeout(noteTimers.get(name));
  // An answer while another action of the card still waits for its own (three quick − on the
  // thermostat) stays until the last is answered: a busy card is not left without a word.
  const waiting = pending || card.classList.contains("busy") || card.querySelector("button.pending");
  if (text && !waiting) noteTimers.set(name, setTimeout(() => note(name, ""), noteLasts(error)));
}

function switchDevice(name, state) {
  const card = cards.get(name);
  const button = card.querySelector(`button[data-set="${state}"]`);
  if (!send({type: "switch", device: name, state, request: ++requestId})) return note(name, t("not connected"), true);
  for (const b of card.querySelectorAll("button[data-set]")) b.disabled = true;
  button.classList.add("pending");
  note(name, t("switching…"), false, true);
}

function setDevice(name, value) {
  const card = cards.get(name);
  if (!send({type: "set", device: name, value, request: ++requestId})) return note(name, t("not connected"), true);
  card.dataset.inflight = String(Number(card.dataset.inflight || 0) + 1);      // busy until every one is answered
  card.classList.add("busy");
  renderCard(name);
  note(name, value + "…", false, true);
}

function snap(name) {
  if (send({type: "snap", camera: name, request: ++requestId})) note(name, t("taking a picture…"), false, true);
}

function acknowledge(id, button) {
  if (send({type: "ack", id, request: ++requestId})) { button.disabled = true; button.textContent = "…"; }
}

function onResult(result) {
  if (result.action === "switch") {
    const card = cards.get(result.device);
    if (card) for (const b of card.querySelectorAll("button[data-set]")) b.classList.remove("pending");
    if (result.state) devices.set(result.device, result.state);
    // Confirmed answers start with the device's label in every language ("heater is ON",
    // "heater: allumé"); a refusal or "No confirmation from …" does not.
    const device = devices.get(result.device);
    // Confirmed: the device is now as asked (a refusal, "No confirmation from …", "… is gone" are
    // not), and the answer is about it.
    const asked = {on: true, off: false}[result.asked];
    const confirmed = result.state && device && result.text.startsWith(device.label)
      && (asked === undefined || result.state.value === asked);
    note(result.device, result.text, !confirmed);
    renderCard(result.device);
  } else if (result.action === "set") {
    const card = cards.get(result.device);
    if (card) {
      card.dataset.inflight = String(Math.max(0, Number(card.dataset.inflight || 1) - 1));
      if (card.dataset.inflight === "0") {
        card.classList.remove("busy");
        for (const input of card.querySelectorAll("input[data-moving]")) delete input.dataset.moving;
      }
    }
    if (result.state) devices.set(result.device, result.state);
    const device = devices.get(result.device);
    note(result.device, result.text, !(device && result.text.startsWith(device.label + ":")));
    renderCard(result.device);
  } else if (result.action === "snap") {
    const card = cards.get(result.camera);
    if (!card) return;
    const box = card.querySelector(".image");
    box.replaceChildren(...result.images.map((url) => el("a", {href: url, target: "_blank"}, el("img", {src: url, alt: result.text}))));
    note(result.camera, result.text, !result.images.length);
  } else if (result.action === "ack" && result.text) {
    addChat("bot", result.text);
  }
}

// ---- alerts, health, chat ----------------------------------------------------------------------

function renderAlerts(alerts) {
  $("alerts").hidden = !alerts.length;
  $("alert-list").replaceChildren(...alerts.map((alert) => {
    // An alert sent from memory while storage fails has no id yet: marked, and not acknowledged
    // from here (a bare "ack" would reach whichever stored alert is latest).
    const stored = alert.id !== null && alert.id !== undefined;
    const acked = alert.acked_by ? t("acknowledged by {who}").replace("{who}", alert.acked_by) : t("NOT acknowledged");
    const button = el("button", {type: "button", "data-ack": stored ? alert.id : ""}, alert.acked_by ? t("Acknowledged") : t("Acknowledge"));
    button.disabled = Boolean(alert.acked_by) || !may.ack || !stored;
    if (!stored) button.title = t("Not stored yet: answer ack in the chat to acknowledge it.");
    button.addEventListener("click", () => acknowledge(alert.id, button));
    return el("div", {class: "alert", "data-alert": stored ? alert.id : "unstored"},
      el("div", {}, el("span", {class: "sev " + alert.severity}, t(alert.severity)),
        (stored ? "#" + alert.id + " " : "(" + t("NOT STORED: storage is failing") + ") ") + alert.message,
        el("small", {"data-raised": alert.raised_at, "data-acked": acked}, ago(serverNow() - alert.raised_at) + ", " + acked)),
      button);
  }));
}

function renderHealth(health) {
  const storage = health.storage || {connected: true};
  $("storage").hidden = storage.connected;
  $("storage").textContent = storage.connected ? "" : t("Storage is failing ({why}): alerts are sent from memory, "
    + "readings kept in memory.").replace("{why}", storage.detail);
  const pills = [["mqtt", health.mqtt], ["storage", storage], ...Object.entries(health.adapters)];
  $("health").replaceChildren(...pills.map(([name, h]) =>
    el("span", {class: "pill" + (h.connected ? "" : " down"), title: h.detail, "data-health": name},
       name === "storage" ? t("storage") : name)));
}

function addChat(cls, text, images) {
  const log = $("log");
  const div = el("div", {class: cls}, text);
  const bottom = () => { log.scrollTop = log.scrollHeight; };
  for (const url of images || []) {
    const img = el("img", {src: url, alt: ""});
    img.addEventListener("load", bottom);             // its height is known once loaded: the picture stays in view
    div.append(el("a", {href: url, target: "_blank"}, img));
  }
  log.append(div);
  bottom();
}
const greeting = () => t("Type a command: temp, chauffage on, snap entree, graph salon 7d… (help lists them all)");
addChat("bot greeting", greeting());

function onMessage(event) {
  const data = JSON.parse(event.data);
  switch (data.type) {
    case "hello": $("name").textContent = data.name; document.title = data.name; break;
    case "state":
      clockOffset = data.now * 1000 - Date.now();
      may = data.may;
      labels = data.labels || {};
      translatePage();
      renderDevices(data.devices);
      renderAlerts(data.alerts);
      renderHealth(data.health);
      $("form").querySelector("input").disabled = !may.chat;
      if (may.history) for (const device of data.devices) if (device.chart) loadHistory(device.name);
      document.body.dataset.ready = "true";
      break;
    case "reading": onReading(data.device); break;
    case "alerts": renderAlerts(data.alerts); break;
    case "health": renderHealth(data.health); break;
    case "result": onResult(data); break;
    case "reply": addChat(data.notice ? "bot notice" : "bot", data.text, data.images); break;
  }
}

function showConnection(state) {       // "live", "reconnecting…": kept in English to be shown again translated
  $("conn").dataset.label = state;
  $("conn").textContent = t(state);
}

function translatePage() {
  for (const node of document.querySelectorAll("[data-label]")) node.textContent = t(node.dataset.label);
  for (const node of document.querySelectorAll("[data-aria]")) node.setAttribute("aria-label", t(node.dataset.aria));
  $("text").placeholder = t("temp salon, chauffage on, graph salon 7d, help");
  const first = document.querySelector("#log .greeting");
  if (first) first.textContent = greeting();
  document.documentElement.lang = labels.language || "en";
}

function connect() {
  socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  socket.onopen = () => { showConnection("live"); document.body.classList.remove("offline"); send({type: "watch"}); };
  socket.onclose = () => {
    // The hub is out of reach: what the page shows is as of then (greyed), and nothing can be sent.
    showConnection("reconnecting…"); document.body.dataset.ready = "false"; document.body.classList.add("offline");
    setTimeout(connect, 2000);
  };
  socket.onmessage = onMessage;
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text");
  if (!input.value.trim()) return;
  if (send({text: input.value})) { addChat("me", "> " + input.value); input.value = ""; }
  else addChat("bot notice", t("not connected"));
});
setInterval(() => {
  for (const name of devices.keys()) renderAge(name);
  for (const small of document.querySelectorAll("[data-raised]"))      // an alert's age moves on too
    small.textContent = ago(serverNow() - Number(small.dataset.raised)) + ", " + small.dataset.acked;
}, 1000);
setInterval(() => { for (const name of devices.keys()) drawChart(name); }, 60000);
window.addEventListener("resize", () => { for (const name of devices.keys()) drawChart(name); });
connect();
