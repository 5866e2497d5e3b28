// The bedside page: state pushed by server-sent events, commands posted as the same JSON MQTT takes.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let doc = null;               // the last state from the box
let receivedAt = 0;           // performance.now() when it came: the timer counts down from there
let events = null;            // the EventSource
let draggingUntil = 0;        // while the slider is moved, the box's echo does not move it back
let volumeTimer = null;
let breathAskedAt = 0;        // when the page last asked for more of the guide's breaths

async function send(command) {
  const response = await fetch("/command", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(command),
  });
  if (response.status === 401) return showLogin();
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    setStatus(answer.error || `refused (${response.status})`, true);
  }
}

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("down", bad);
}

function stepDb(volume) {
  if (!doc || volume === 0) return "silent";
  const {floor_db: floor, ceiling_db: ceiling} = doc.scale;
  return `${(floor + (ceiling - floor) * (volume - 1) / 99).toFixed(1)} dB`;
}

function showVolume(volume) {
  $("volume-value").textContent = `${volume} · ${stepDb(volume)}`;
}

function formatLeft(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")} left`
           : `${m}:${String(r).padStart(2, "0")} left`;
}

function tick() {
  if (!doc) return;
  const running = doc.state === "ON" && doc.timer_remaining > 0;
  const left = doc.timer_remaining - (performance.now() - receivedAt) / 1000;
  $("remaining").textContent = running ? formatLeft(left) : (doc.timer ? `${doc.timer} min, from play` : "off");
}

function render(next) {
  const first = doc === null;
  doc = next;
  receivedAt = performance.now();
  const playing = doc.state === "ON";
  $("play").textContent = playing ? "Stop" : "Play";
  $("play").setAttribute("aria-pressed", String(playing));

  const select = $("sound");
  if (select.options.length !== doc.sounds.length) {
    select.replaceChildren(...doc.sounds.map((s) => new Option(s.name, s.name)));
  }
  select.value = doc.sound;
  const sound = doc.sounds.find((s) => s.name === doc.sound);
  $("description").textContent = sound ? sound.description : "";

  if (performance.now() > draggingUntil) {
    $("volume").value = doc.volume;
    showVolume(doc.volume);
  }

  const presets = $("presets");
  if (first || presets.children.length !== doc.presets.length + 1) {
    presets.replaceChildren(...[...doc.presets, 0].map((minutes) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = minutes ? `${minutes} min` : "Timer off";
      button.dataset.minutes = minutes;
      button.addEventListener("click", () => send({timer: minutes}));
      return button;
    }));
  }
  for (const button of presets.children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.minutes) === doc.timer));
  }
  tick();

  const profiles = $("profiles");
  if (profiles.children.length !== doc.profiles.length) {
    profiles.replaceChildren(...doc.profiles.map((p) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = p.name;
      button.dataset.profile = p.name;
      button.title = p.description;
      button.addEventListener("click", () => send({profile: p.name}));
      return button;
    }));
  }
  for (const button of profiles.children) {
    button.setAttribute("aria-pressed", String(button.dataset.profile === doc.profile));
  }
  const chosen = doc.profiles.find((p) => p.name === doc.profile);
  $("profile-description").textContent = chosen ? chosen.description : "";
  $("breathe").setAttribute("aria-pressed", String(Boolean(doc.breathing)));
  $("breathe").textContent = doc.breathing ? "End the guide" : "Breathe with the sound";

  $("wake-enabled").checked = doc.wake_enabled;
  if (document.activeElement !== $("wake-at")) $("wake-at").value = doc.wake_at || "";
  $("events").replaceChildren(...(doc.events.length ? doc.events : [null]).map((event) => {
    const item = document.createElement("li");
    if (!event) {
      item.textContent = doc.clock_synced ? "Nothing scheduled." : "Nothing scheduled.";
      return item;
    }
    const when = document.createElement("time");
    when.dateTime = event.at;
    when.textContent = event.local;
    item.append(when, event.what);
    return item;
  }));
  if (!doc.clock_synced) {
    const warning = document.createElement("li");
    warning.textContent = "The clock is not set yet: nothing fires until it is.";
    $("events").prepend(warning);
  }
  drawPlan(doc.plan);
}

function drawPlan(plan) {
  const svg = $("plan");
  const width = 360, height = 150, left = 8, right = 352, top = 10, bottom = 120;
  const points = plan.points;
  const end = Math.max(points[points.length - 1][0], 3600);
  const floor = doc.scale.floor_db - 6;  // silence sits just under the quietest step
  const x = (s) => left + (right - left) * s / end;
  const y = (db) => bottom - (bottom - top) * (Math.max(db, floor) - floor) / (doc.scale.ceiling_db - floor);
  const children = [];
  const now = new Date(plan.now).getTime() + plan.offset_s * 1000;  // the box's local time, as UTC fields
  for (let h = 1; h * 3600 < end; h++) {
    const at = now + h * 3600 * 1000;
    const minutesPast = new Date(at).getUTCMinutes();
    const s = h * 3600 - minutesPast * 60;
    if (s <= 0) continue;
    const label = new Date(now + s * 1000).getUTCHours();
    const line = document.createElementNS(SVG, "line");
    for (const [k, v] of [["x1", x(s)], ["x2", x(s)], ["y1", top], ["y2", bottom], ["class", "grid"]]) {
      line.setAttribute(k, v);
    }
    children.push(line);
    if (end / 3600 < 8 || label % 2 === 0) {
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", x(s));
      text.setAttribute("y", height - 14);
      text.setAttribute("text-anchor", "middle");
      text.textContent = `${String(label).padStart(2, "0")}:00`;
      children.push(text);
    }
  }
  const path = points.map(([s, db], i) => `${i ? "L" : "M"}${x(s).toFixed(1)},${y(db).toFixed(1)}`).join(" ");
  const area = document.createElementNS(SVG, "path");
  area.setAttribute("d", `${path} L${x(points[points.length - 1][0]).toFixed(1)},${bottom} L${left},${bottom} Z`);
  area.setAttribute("class", "area");
  const level = document.createElementNS(SVG, "path");
  level.setAttribute("d", path);
  level.setAttribute("class", "level");
  const marker = document.createElementNS(SVG, "line");
  for (const [k, v] of [["x1", left], ["x2", left], ["y1", top], ["y2", bottom], ["class", "now"]]) {
    marker.setAttribute(k, v);
  }
  const bands = (plan.bands || []).map(([from, to, what], i) => {  // a guide, a focus session, a nap
    const group = document.createElementNS(SVG, "g");
    const rect = document.createElementNS(SVG, "rect");
    const x0 = x(from), x1 = Math.max(x(to), x0 + 2);
    for (const [k, v] of [["x", x0], ["y", top + i * 12], ["width", x1 - x0], ["height", 10], ["class", "band"]]) {
      rect.setAttribute(k, v);
    }
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", x1 + 3);
    label.setAttribute("y", top + i * 12 + 8);
    label.textContent = what;
    group.append(rect, label);
    return group;
  });
  const nowLabel = document.createElementNS(SVG, "text");
  nowLabel.setAttribute("x", left);
  nowLabel.setAttribute("y", height - 2);
  nowLabel.textContent = "now";
  svg.replaceChildren(...children, area, level, ...bands, marker, nowLabel);
}

// The guide's pace, as the sound carries it (bedside/audio/breath.py): a raised cosine up over each
// inhale, down over each exhale, from the breath starts the box sent.
function breathLevel(breath, t) {
  const starts = breath.starts;
  let n = 0;
  while (n < starts.length - 2 && starts[n + 1] <= t) n++;
  const cycle = Math.min(Math.max((t - starts[n]) / (starts[n + 1] - starts[n]), 0), 1);
  const share = breath.inhale_share;
  const inhaling = cycle < share;
  const level = inhaling ? (1 - Math.cos(Math.PI * cycle / share)) / 2
                         : (1 + Math.cos(Math.PI * (cycle - share) / (1 - share))) / 2;
  return {level, inhaling, late: t > starts[starts.length - 3]};
}

function animateBreath() {
  requestAnimationFrame(animateBreath);
  const breath = doc && doc.breath;
  const circle = $("breath-circle");
  if (!breath) {
    circle.setAttribute("r", "24");
    $("breath-phase").textContent = "";
    return;
  }
  const t = breath.at + (performance.now() - receivedAt) / 1000;
  const {level, inhaling, late} = breathLevel(breath, t);
  circle.setAttribute("r", (24 + 30 * level).toFixed(2));
  $("breath-phase").textContent = t < breath.ends ? (inhaling ? "in" : "out") : "";
  if (late && performance.now() > breathAskedAt) {  // the next breaths, before these run out
    breathAskedAt = performance.now() + 2000;
    fetch("/state").then((r) => r.ok ? r.json() : null).then((next) => next && render(next)).catch(() => {});
  }
}

function connect() {
  if (events) events.close();
  events = new EventSource("/events");
  events.onopen = () => setStatus("live");
  events.onmessage = (message) => render(JSON.parse(message.data));
  events.onerror = () => {
    setStatus("reconnecting…", true);
    if (events.readyState === EventSource.CLOSED) {  // refused for good (a login ended, say): look again
      setTimeout(start, 2000);
    }
  };
}

function showLogin() {
  if (events) events.close();
  $("app").hidden = true;
  $("login").hidden = false;
  $("password").focus();
}

async function start() {
  let response;
  try {
    response = await fetch("/state");
  } catch {
    setStatus("reconnecting…", true);
    setTimeout(start, 2000);
    return;
  }
  if (response.status === 401) return showLogin();
  if (!response.ok) {
    setTimeout(start, 2000);
    return;
  }
  render(await response.json());
  $("login").hidden = true;
  $("app").hidden = false;
  connect();
}

function wire() {
  $("play").addEventListener("click", () => send({state: doc && doc.state === "ON" ? "OFF" : "ON"}));
  $("sound").addEventListener("change", (e) => send({sound: e.target.value}));
  $("volume").addEventListener("input", (e) => {
    const volume = Number(e.target.value);
    draggingUntil = performance.now() + 600;
    showVolume(volume);
    if (!volumeTimer) {
      volumeTimer = setTimeout(() => {
        volumeTimer = null;
        send({volume: Number($("volume").value)});
      }, 60);
    }
  });
  $("breathe").addEventListener("click", () => send({breathe: !(doc && doc.breathing)}));
  $("fade").addEventListener("click", () => send({fade_out: doc ? doc.fade_out_s : 120}));
  $("wake-enabled").addEventListener("change", (e) => send({wake_enabled: e.target.checked}));
  $("wake-at").addEventListener("change", (e) => { if (e.target.value) send({wake_at: e.target.value}); });
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const response = await fetch("/login", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({password: $("password").value}),
    });
    $("password").value = "";
    if (response.ok) {
      $("login-error").textContent = "";
      start();
    } else {
      const answer = await response.json().catch(() => ({}));
      $("login-error").textContent = answer.error || "wrong password";
    }
  });
  setInterval(tick, 1000);
  requestAnimationFrame(animateBreath);
}

wire();
start();
