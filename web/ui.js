// The Herald dashboard: topics, a live tail, webhook subscriptions and their deliveries.
// Plain DOM, no build step; every value from the server goes in through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// The key is kept for this tab's session only (sessionStorage), or given once as ?key=.
const key = params.get("key") || sessionStorage.getItem("herald-key") || "";
$("key-save").addEventListener("click", () => {
  sessionStorage.setItem("herald-key", $("key").value.trim());
  if (!params.has("key")) return location.reload();
  params.delete("key");
  location.search = params.toString();
});

const status = (text) => ($("status").textContent = text);

/// Calls the API; resolves to the JSON answer (null for 204), rejects with the problem's detail.
async function api(method, path, body) {
  const headers = {};
  if (key) headers.authorization = "Bearer " + key;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) status("needs an API key with the admin scope");
    throw new Error(answer.detail || `${method} ${path} answered ${response.status}`);
  }
  return answer;
}

/// A new element with a class and text.
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

const when = (time) => (time ? new Date(time).toLocaleTimeString() : "—");
const percent = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)}%`);

// ---- Topics ----

async function refreshTopics() {
  const { topics } = await api("GET", "/v1/topics");
  const rows = topics.map((t) => {
    const tr = el("tr");
    tr.dataset.testid = "topic-row";
    tr.dataset.topic = t.topic;
    tr.append(
      el("td", t.topic, "topic"),
      el("td", t.events, "num"),
      el("td", t.last_seq ?? "—", "num"),
      el("td", when(t.last_published_at)),
      el("td", t.events_last_minute, "num"),
    );
    tr.addEventListener("click", () => startTail(t.topic));
    tr.className = "clickable";
    return tr;
  });
  $("topics").replaceChildren(...rows);
}

// ---- Live tail (Server-Sent Events) ----

let tail = null;

function startTail(pattern) {
  if (tail) tail.close();
  $("tail-pattern").value = pattern;
  $("tail").replaceChildren();
  const query = new URLSearchParams({ topic: pattern });
  if (key) query.set("token", key); // EventSource cannot send headers.
  tail = new EventSource("/v1/sse?" + query);
  $("tail-status").textContent = "connecting…";
  tail.onopen = () => ($("tail-status").textContent = `live: ${pattern}`);
  tail.onerror = () => ($("tail-status").textContent = tail.readyState === EventSource.CLOSED ? "refused (check the pattern and key)" : "reconnecting…");
  tail.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const li = el("li");
    li.dataset.testid = "tail-item";
    li.dataset.seq = event.seq;
    const data = "data" in event ? JSON.stringify(event.data) : event.data_base64;
    li.append(el("span", "#" + event.seq, "seq"), el("span", event.topic, "topic"), el("b", event.type + " "), document.createTextNode(data));
    li.title = message.data;
    const list = $("tail");
    list.append(li);
    while (list.children.length > 500) list.firstChild.remove();
    list.scrollTop = list.scrollHeight;
  };
}

$("tail-form").addEventListener("submit", (e) => {
  e.preventDefault();
  startTail($("tail-pattern").value.trim() || ">");
});

// ---- Subscriptions ----

let selected = params.get("subscription");
let subscriptions = [];

async function refreshSubscriptions() {
  ({ subscriptions } = await api("GET", "/v1/subscriptions"));
  const rows = subscriptions.map((s) => {
    const tr = el("tr", undefined, "clickable" + (s.id === selected ? " selected" : ""));
    tr.dataset.testid = "subscription-row";
    tr.dataset.id = s.id;
    const h = s.health || {};
    const last = h.last_attempt_at ? `${when(h.last_attempt_at)} · ${h.last_status_code ?? h.last_error ?? ""}` : "—";
    tr.append(
      el("td", s.url),
      el("td", s.topics.join(", ")),
      el("td", s.state, s.state),
      el("td", percent(h.success_rate), "num"),
      el("td", last),
      el("td", h.queue_depth ?? 0, "num"),
    );
    tr.addEventListener("click", () => select(s.id));
    return tr;
  });
  $("subscriptions").replaceChildren(...rows);
  if (selected) await refreshDetail();
}

$("new-sub").addEventListener("submit", async (e) => {
  e.preventDefault();
  const topics = $("new-topics").value.split(",").map((t) => t.trim()).filter(Boolean);
  try {
    const sub = await api("POST", "/v1/subscriptions", { url: $("new-url").value.trim(), topics });
    $("new-url").value = $("new-topics").value = "";
    await select(sub.id);
  } catch (err) {
    status(err.message);
  }
});

// ---- One subscription ----

const openDeliveries = new Set();
const bodies = new Map();

async function select(id) {
  selected = id;
  $("detail-message").textContent = "";
  await refreshSubscriptions();
}

/// The topic a test event goes to: the first pattern with its wildcards filled in.
const testTopic = (pattern) => pattern.replace(/\*/g, "test").replace(/>$/, "test");

async function refreshDetail() {
  const sub = subscriptions.find((s) => s.id === selected);
  if (!sub) return ($("detail").hidden = true);
  $("detail").hidden = false;
  $("detail-id").textContent = sub.id;
  $("detail-state").textContent = sub.state + (sub.disabled_reason ? ` (${sub.disabled_reason})` : "");
  $("detail-state").className = sub.state;
  $("detail-secret").textContent = sub.secret;
  $("toggle").textContent = sub.state === "enabled" ? "Disable" : "Enable";
  if (!$("test-topic").value || $("test-topic").dataset.for !== sub.id) {
    $("test-topic").value = testTopic(sub.topics[0]);
    $("test-topic").dataset.for = sub.id;
  }
  const { deliveries } = await api("GET", `/v1/subscriptions/${sub.id}/deliveries?limit=50`);
  $("deliveries").replaceChildren(...deliveries.map(deliveryView));
  if (!deliveries.length) $("deliveries").append(el("p", "No deliveries yet.", "muted"));
}

function deliveryView(d) {
  const box = el("details");
  box.dataset.testid = "delivery";
  box.dataset.id = d.id;
  box.dataset.status = d.status;
  box.open = openDeliveries.has(d.id);
  const summary = el("summary");
  const next = d.next_attempt_at ? ` · next ${when(d.next_attempt_at)}` : "";
  summary.append(
    el("b", d.status, d.status),
    document.createTextNode(` ${d.event_ids.join(", ")} · ${d.attempts.length} attempt(s)${next} `),
  );
  const retry = el("button", "Retry now");
  retry.type = "button";
  retry.dataset.testid = "delivery-retry";
  retry.addEventListener("click", (e) => {
    e.preventDefault();
    act(() => api("POST", `/v1/deliveries/${d.id}/retry`), "retry scheduled");
  });
  summary.append(retry);
  box.append(summary);
  for (const a of d.attempts) {
    const attempt = el("div", undefined, "attempt");
    attempt.dataset.testid = "attempt";
    const outcome = a.status_code ? `HTTP ${a.status_code}` : "no answer";
    attempt.append(el("div", `${when(a.at)} · ${outcome} · ${a.latency_ms} ms${a.error ? " · " + a.error : ""}`));
    const headers = Object.entries(a.request_headers).map(([k, v]) => `${k}: ${v}`).join("\n");
    if (headers) attempt.append(el("div", "request headers", "muted"), el("pre", headers));
    if (a.response_excerpt) attempt.append(el("div", "response", "muted"), el("pre", a.response_excerpt));
    box.append(attempt);
  }
  const body = el("pre", bodies.get(d.id) ?? "");
  body.dataset.testid = "delivery-body";
  box.append(el("div", "request body", "muted"), body);
  box.addEventListener("toggle", async () => {
    if (!box.open) return openDeliveries.delete(d.id);
    openDeliveries.add(d.id);
    if (!bodies.has(d.id)) {
      const full = await api("GET", `/v1/deliveries/${d.id}`);
      bodies.set(d.id, full.request_body ?? "(its events were removed by retention)");
      body.textContent = bodies.get(d.id);
    }
  });
  return box;
}

/// Runs an action on the selected subscription, then shows its outcome and the new state.
async function act(action, done) {
  try {
    await action();
    $("detail-message").textContent = "";
    status(done);
  } catch (err) {
    $("detail-message").textContent = err.message;
  }
  await refreshSubscriptions().catch(() => {});
}

$("toggle").addEventListener("click", () => {
  const sub = subscriptions.find((s) => s.id === selected);
  act(() => api("PATCH", `/v1/subscriptions/${selected}`, { enabled: sub.state !== "enabled" }), "state changed");
});
$("rotate").addEventListener("click", () => act(() => api("POST", `/v1/subscriptions/${selected}/rotate-secret`), "secret rotated"));
$("test-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const topic = $("test-topic").value.trim();
  const event = { type: "herald.test", data: { message: "a test event from the Herald dashboard", at: new Date().toISOString() } };
  act(() => api("POST", `/v1/topics/${encodeURIComponent(topic)}/events`, event), `test event published to ${topic}`);
});
$("replay-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const after = $("replay-after").value.trim();
  const since = $("replay-since").value;
  const body = after !== "" ? { after: Number(after) } : { since: since ? new Date(since).toISOString() : "" };
  act(() => api("POST", `/v1/subscriptions/${selected}/replay`, body), "replay started");
});

// ---- Refresh loop ----

async function refresh() {
  try {
    await Promise.all([refreshTopics(), refreshSubscriptions()]);
    status(`updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (!/API key/.test($("status").textContent)) status(err.message);
  }
}

refresh();
setInterval(refresh, 2000);
startTail(params.get("tail") || ">");
