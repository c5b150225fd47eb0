// The dashboard (/ui/) in a real browser: headless Chromium (Debian's package) driven by
// playwright-core, through the page's data-testid hooks.
//
// Usage: node dashboard_browser.mjs URL SCREENSHOT KEY SUBSCRIPTION
//   URL           a Herald that needs a credential; KEY is an admin key there
//   SCREENSHOT    where to save a PNG of the dashboard
//   SUBSCRIPTION  the id of a subscription to orders.* whose endpoint fails its first request
//                 (500) and then succeeds, with a retry schedule of one hour
// Exits 0 when every check passed. Run by crates/herald/tests/dashboard.rs.
import { launch } from "./browser.mjs";

const [url, screenshot, key, subscription] = process.argv.slice(2);
const fail = (why) => {
  console.error(`dashboard in Chromium FAILED: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 60000).unref();
const TIMEOUT = 15000;

const hook = (scope, id) => scope.locator(`[data-testid="${id}"]`);

async function until(what, check) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const got = await check().catch((e) => ({ ok: false, last: e.message }));
    if (got.ok) return got.last;
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}; last: ${JSON.stringify(got.last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function publish(topic, data) {
  const response = await fetch(`${url}/v1/topics/${topic}/events`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ type: "order.created", data }),
  });
  if (response.status !== 201) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/// The deliveries the detail panel shows, as {id, status, attempts: [text]}.
const deliveries = (page) =>
  hook(page, "delivery").evaluateAll((boxes) =>
    boxes.map((b) => ({
      id: b.dataset.id,
      status: b.dataset.status,
      attempts: [...b.querySelectorAll('[data-testid="attempt"]')].map((a) => a.textContent),
    })),
  );

async function main() {
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${url}/ui/`);

    // Without a key the dashboard says what it needs.
    await until("the page to ask for a key", async () => {
      const last = await hook(page, "ui-status").textContent();
      return { ok: last.includes("API key"), last };
    });
    // The key typed in is kept for the tab's session, not in the address.
    await Promise.all([page.waitForEvent("load"), hook(page, "api-key").fill(key).then(() => hook(page, "api-key-save").click())]);
    if (page.url().includes(key)) throw new Error("the key went into the URL");
    await until("the dashboard to load with the key", async () => {
      const last = await hook(page, "ui-status").textContent();
      return { ok: last.startsWith("updated"), last };
    });

    // The live tail shows an event published elsewhere.
    await until("the tail to go live", async () => {
      const last = await hook(page, "tail-status").textContent();
      return { ok: last.startsWith("live"), last };
    });
    const event = await publish("orders.7", { total: 42 });
    await until("the published event in the live tail", async () => {
      const last = await hook(page, "tail-item").evaluateAll((lis) => lis.map((li) => [Number(li.dataset.seq), li.textContent]));
      return { ok: last.some(([seq, text]) => seq === event.seq && text.includes("orders.7") && text.includes('{"total":42}')), last };
    });

    // The topic table shows it with its rate.
    await until("orders.7 in the topics with its rate", async () => {
      const last = await hook(page, "topic-row").evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
      return { ok: last.some((cells) => cells[0] === "orders.7" && cells[2] === String(event.seq) && Number(cells[4]) >= 1), last };
    });

    // The failing subscription: its delivery is retrying after an HTTP 500.
    const row = page.locator(`[data-testid="subscription-row"][data-id="${subscription}"]`);
    await row.click();
    await until("the failed attempt", async () => {
      const last = await deliveries(page);
      const d = last.find((d) => d.status === "retrying");
      return { ok: d && d.attempts.length === 1 && d.attempts[0].includes("HTTP 500"), last };
    });
    await until("the row's health", async () => {
      const last = await row.evaluate((r) => [...r.cells].map((c) => c.textContent));
      return { ok: last[2] === "enabled" && last[3] === "0%" && last[4].includes("500") && last[5] === "1", last };
    });
    // Opening a delivery shows the request as sent: signed headers and the event as the body.
    const box = hook(page, "delivery").first();
    await box.locator("summary").click({ position: { x: 4, y: 4 } });
    await until("the request headers and body", async () => {
      const text = await box.textContent();
      const body = await hook(box, "delivery-body").textContent();
      return { ok: text.includes("webhook-signature: v1,") && text.includes(`webhook-id: ${event.id}`) && body.includes(`"seq":${event.seq}`), last: text };
    });

    // Retry now: the endpoint answers 200 this time.
    await hook(box, "delivery-retry").click();
    await until("the retry to succeed", async () => {
      const last = await deliveries(page);
      const d = last.find((d) => d.attempts.length === 2);
      return { ok: d && d.status === "succeeded" && d.attempts[1].includes("HTTP 200"), last };
    });

    // Disable, then enable again.
    await hook(page, "sub-toggle").click();
    await until("the subscription to be disabled", async () => {
      const last = await hook(page, "sub-state").textContent();
      return { ok: last.startsWith("disabled"), last };
    });
    await hook(page, "sub-toggle").click();
    await until("the subscription to be enabled", async () => {
      const last = await hook(page, "sub-state").textContent();
      return { ok: last === "enabled", last };
    });

    // Rotate the secret.
    const before = await hook(page, "sub-secret").textContent();
    await hook(page, "sub-rotate").click();
    await until("a new secret", async () => {
      const last = await hook(page, "sub-secret").textContent();
      return { ok: last.startsWith("whsec_") && last !== before, last };
    });

    // Send a test event: it goes to orders.test and is delivered.
    if ((await hook(page, "sub-test-topic").inputValue()) !== "orders.test") throw new Error("the test topic is not orders.test");
    await hook(page, "sub-test").click();
    await until("the test event's delivery", async () => {
      const last = await deliveries(page);
      return { ok: last.length === 2 && last.every((d) => d.status === "succeeded"), last };
    });

    // Replay from just before the first event: it is delivered again.
    await hook(page, "replay-after").fill(String(event.seq - 1));
    await hook(page, "sub-replay").click();
    await until("the replayed deliveries", async () => {
      const last = await deliveries(page);
      return { ok: last.length === 4 && last.every((d) => d.status === "succeeded"), last };
    });
    await until("orders.test in the topics", async () => {
      const last = await hook(page, "topic-row").evaluateAll((rows) => rows.map((r) => r.dataset.topic));
      return { ok: last.includes("orders.test"), last };
    });
    await box.locator("summary").click({ position: { x: 4, y: 4 } });
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log("dashboard in Chromium: ok");
  process.exit(0);
}

main().catch((e) => fail(e.stack || e.message));
