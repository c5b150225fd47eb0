// The chat demo (/demo/chat) in a real browser: headless Chromium (Debian's package) driven by
// playwright-core, through the page's data-testid hooks the way a user would.
//
// Usage: node chat_browser.mjs DEV_URL SECURE_URL KEY SCREENSHOT
//   DEV_URL     a Herald in --dev mode (anonymous from loopback)
//   SECURE_URL  a Herald that needs a credential; KEY is a key scoped to publish:chat.* and
//               subscribe:chat.> there
//   SCREENSHOT  where to save a PNG of the chat page
// Exits 0 when every check passed. Run by crates/herald/tests/stomp_interop.rs.
import { launch } from "./browser.mjs";

const [devUrl, secureUrl, key, screenshot] = process.argv.slice(2);
const fail = (why) => {
  console.error(`chat in Chromium FAILED: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 60000).unref();
const TIMEOUT = 10000;

const hook = (page, id) => page.locator(`[data-testid="${id}"]`);
const lines = (page) => hook(page, "chat-messages").locator("li").allTextContents();
const status = (page) => page.locator("#status").textContent();

async function until(what, check) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const got = await check();
    if (got.ok) return;
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}; last: ${JSON.stringify(got.last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function linesAre(page, want, what) {
  await until(what, async () => {
    const last = await lines(page);
    return { ok: JSON.stringify(last) === JSON.stringify(want), last };
  });
}

/// Opens the chat page and records every STOMP frame the server sent it over the WebSocket.
async function open(context, url) {
  const page = await context.newPage();
  page.received = [];
  page.on("websocket", (ws) => ws.on("framereceived", (f) => page.received.push(String(f.payload))));
  page.on("pageerror", (e) => console.error(`page error at ${url}: ${e.message}`));
  await page.goto(url);
  return page;
}

async function connected(page, what) {
  await until(`${what} to connect`, async () => {
    const last = await status(page);
    return { ok: last === "connected", last };
  });
}

async function say(page, text) {
  await hook(page, "chat-input").fill(text);
  await hook(page, "chat-send").click();
}

async function main() {
  const browser = await launch();
  try {
    // Two visitors of one room on a dev server; each browser context is its own profile.
    const ann = await open(await browser.newContext({ viewport: { width: 900, height: 640 } }), `${devUrl}/demo/chat?nick=ann`);
    await connected(ann, "ann's page");
    if ((await hook(ann, "chat-room").inputValue()) !== "lobby") throw new Error("the default room is not lobby");
    await say(ann, "hello from Chromium");
    await linesAre(ann, ["annhello from Chromium"], "ann to see her own message");

    // bob joins later: he gets the room's history, then both see what he says.
    const bob = await open(await browser.newContext(), `${devUrl}/demo/chat?nick=bob&room=lobby`);
    await connected(bob, "bob's page");
    await linesAre(bob, ["annhello from Chromium"], "bob to get the history");
    await say(bob, "hi ann, over STOMP");
    const both = ["annhello from Chromium", "bobhi ann, over STOMP"];
    await linesAre(ann, both, "ann to see bob's message");
    await linesAre(bob, both, "bob to see his own message");
    await say(ann, "works in a real browser");
    await linesAre(bob, [...both, "annworks in a real browser"], "bob to see ann's reply");
    await ann.screenshot({ path: screenshot });

    // A server that needs a credential: without one, the page gets ERROR and never connects.
    const room = `keyed${Date.now()}`;
    const anonymous = await open(await browser.newContext(), `${secureUrl}/demo/chat?nick=eve&room=${room}`);
    await until("the anonymous page to be refused", async () => {
      const last = anonymous.received.find((f) => f.startsWith("ERROR"));
      return { ok: last !== undefined && last.includes("message:authentication failed"), last: anonymous.received };
    });
    if (anonymous.received.some((f) => f.startsWith("CONNECTED"))) throw new Error("connected without a key");

    // With ?key= the page authenticates, and its messages go through.
    const carol = await open(await browser.newContext(), `${secureUrl}/demo/chat?nick=carol&room=${room}&key=${encodeURIComponent(key)}`);
    await connected(carol, "the page with ?key=");
    await say(carol, "signed in with ?key=");
    await linesAre(carol, ["carolsigned in with ?key="], "carol to see her message");

    // The key typed into the api-key input and saved: the page reloads with it and joins.
    const dave = await open(await browser.newContext(), `${secureUrl}/demo/chat?nick=dave&room=${room}`);
    await hook(dave, "api-key").fill(key);
    await Promise.all([dave.waitForEvent("load"), hook(dave, "api-key-save").click()]);
    await connected(dave, "the page with a saved key");
    await linesAre(dave, ["carolsigned in with ?key="], "dave to get the room's history");
    await say(dave, "and with the key input");
    await linesAre(carol, ["carolsigned in with ?key=", "daveand with the key input"], "carol to see dave");
  } finally {
    await browser.close();
  }
  console.log("chat in Chromium: ok");
  process.exit(0);
}

main().catch((e) => fail(e.stack || e.message));
