// The live feed demo (/demo/feed) in a real browser across a server restart: headless Chromium
// (Debian's package) driven by playwright-core, through the page's data-testid hooks.
//
// Usage: node feed_browser.mjs URL SCREENSHOT SECURE_URL KEY
//   URL         a Herald in --dev mode that the test restarts at the same address
//   SCREENSHOT  where to save a PNG of the feed page
//   SECURE_URL  a Herald that needs a credential; KEY is a key scoped to publish:scores.* and
//               subscribe:scores.> there
// The restart is the caller's: this script prints "restart" on stdout when the server should
// stop (SIGTERM) and start again, and waits for a line on stdin saying it is back.
// Exits 0 when every check passed. Run by crates/herald/tests/stomp_interop.rs.
import { createInterface } from "node:readline";
import { launch } from "./browser.mjs";

const [url, screenshot, secureUrl, key] = process.argv.slice(2);
const fail = (why) => {
  console.error(`feed in Chromium FAILED: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 60000).unref();
const TIMEOUT = 15000;
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const hook = (page, id) => page.locator(`[data-testid="${id}"]`);

async function until(what, check) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const got = await check();
    if (got.ok) return;
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}; last: ${JSON.stringify(got.last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/// The feed items as [seq, text] pairs, in page order.
const items = (page) =>
  hook(page, "feed-item").evaluateAll((lis) => lis.map((li) => [Number(li.dataset.seq), li.textContent]));

async function itemsAre(page, want, what) {
  await until(what, async () => {
    const last = await items(page);
    return { ok: JSON.stringify(last) === JSON.stringify(want), last };
  });
}

async function statusIs(page, want, what) {
  await until(what, async () => {
    const last = await hook(page, "feed-status").textContent();
    return { ok: last === want, last };
  });
}

/// Publishes a score update over HTTP; returns the [seq, text] the page should show for it.
async function publish(topic, score, base = url) {
  const headers = { "content-type": "application/json" };
  if (base !== url) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${base}/v1/topics/${topic}/events`, {
    method: "POST",
    headers,
    body: JSON.stringify({ type: "score.update", data: { score } }),
  });
  if (response.status !== 201) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
  const event = await response.json();
  return [event.seq, `#${event.seq}${topic}${score}`];
}

async function main() {
  const browser = await launch();
  try {
    const page = await (await browser.newContext({ viewport: { width: 900, height: 640 } })).newPage();
    page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
    // Every event the page's EventSource received, duplicates included.
    let streamed = 0;
    page.on("response", (r) => {
      if (r.url().includes("/v1/sse?")) streamed += 1;
    });
    await page.goto(`${url}/demo/feed`);
    await statusIs(page, "live", "the feed to go live");

    // History first: an event published before the page opened, on a topic outside scores.>.
    const shown = [];
    shown.push(await publish("scores.league", "Lions 0 – 0 Tigers"));
    await publish("news.other", "not a score");
    shown.push(await publish("scores.league", "Lions 1 – 0 Tigers"));
    await itemsAre(page, shown, "the first updates");

    // The page's own form publishes to scores.demo.
    await hook(page, "feed-input").fill("Bears 3 – 2 Wolves");
    await hook(page, "feed-send").click();
    await until("the form's update", async () => {
      const last = await items(page);
      return { ok: last.length === 3 && last[2][1].endsWith("scores.demoBears 3 – 2 Wolves"), last };
    });
    shown.push((await items(page))[2]);
    if ((await hook(page, "feed-input").inputValue()) !== "") throw new Error("the form was not cleared");

    // The server stops (SIGTERM) and starts again at the same address and data dir.
    console.log("restart");
    const back = await stdin.next();
    if (back.done) throw new Error("stdin closed before the server came back");
    // Published at once, while the page may still be waiting to reconnect: it resumes from
    // Last-Event-ID and gets them exactly once.
    shown.push(await publish("scores.league", "Lions 1 – 1 Tigers"));
    shown.push(await publish("scores.cup", "Eagles 2 – 0 Hawks"));
    await itemsAre(page, shown, "the updates after the restart");
    await statusIs(page, "live", "the feed to be live again");
    if (streamed < 2) throw new Error(`the page opened the stream ${streamed} time(s), not again after the restart`);
    shown.push(await publish("scores.league", "Lions 2 – 1 Tigers"));
    await itemsAre(page, shown, "a live update after the reconnect");

    const seqs = shown.map(([seq]) => seq);
    for (let i = 1; i < seqs.length; i++) {
      if (!(seqs[i] > seqs[i - 1])) throw new Error(`not in seq order: ${seqs}`);
    }
    // ?topic= narrows the feed: a fresh page on scores.cup shows that history only.
    const cup = await (await browser.newContext()).newPage();
    await cup.goto(`${url}/demo/feed?topic=scores.cup`);
    await itemsAre(cup, shown.filter(([, text]) => text.includes("scores.cup")), "the ?topic= page");

    await page.screenshot({ path: screenshot });

    // A server that needs a credential: without one the stream is refused and never goes live.
    const anonymous = await (await browser.newContext()).newPage();
    await anonymous.goto(`${secureUrl}/demo/feed`);
    await statusIs(anonymous, "disconnected; retrying…", "the anonymous page to be refused");
    // With ?key= (sent as ?token=) it goes live and shows what is published there.
    const keyed = await (await browser.newContext()).newPage();
    await keyed.goto(`${secureUrl}/demo/feed?key=${encodeURIComponent(key)}`);
    await statusIs(keyed, "live", "the page with ?key= to go live");
    const secure = [await publish("scores.keyed", "Owls 1 – 0 Foxes", secureUrl)];
    await itemsAre(keyed, secure, "the page with ?key= to show an update");
    await hook(keyed, "feed-input").fill("Owls 1 – 1 Foxes");
    await hook(keyed, "feed-send").click();
    await until("the keyed form's update", async () => {
      const last = await items(keyed);
      return { ok: last.length === 2 && last[1][1].endsWith("scores.demoOwls 1 – 1 Foxes"), last };
    });
    // The key typed into the api-key input and saved (sessionStorage) works too.
    await Promise.all([anonymous.waitForEvent("load"), hook(anonymous, "api-key").fill(key).then(() => hook(anonymous, "api-key-save").click())]);
    await statusIs(anonymous, "live", "the page with a saved key to go live");
    await until("the saved-key page to get the history", async () => {
      const last = await items(anonymous);
      return { ok: last.length === 2, last };
    });
    if (anonymous.url().includes(key)) throw new Error("the saved key went into the URL");
  } finally {
    await browser.close();
  }
  console.log("feed in Chromium: ok");
  process.exit(0);
}

main().catch((e) => fail(e.stack || e.message));
