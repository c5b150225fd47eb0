// The chat demo (/demo/chat) in jsdom: loads the page and /herald.js from a real Herald, then
// drives it through its data-testid hooks the way a browser user would.
// Usage: node chat_demo.mjs http://HOST:PORT. Exits 0 when every check passed.
import { JSDOM } from "jsdom";

const base = process.argv[2];
const fail = (why) => {
  console.error(`chat demo FAILED: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 30000).unref();
const until = async (cond, what) => {
  const deadline = Date.now() + 10000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function open(query) {
  const dom = await JSDOM.fromURL(`${base}/demo/chat${query}`, {
    runScripts: "dangerously",
    resources: "usable",
    pretendToBeVisual: true,
    // jsdom lacks TextEncoder/TextDecoder, which every browser has; lend it Node's.
    beforeParse(window) {
      window.TextEncoder = TextEncoder;
      window.TextDecoder = TextDecoder;
    },
  });
  const doc = dom.window.document;
  const hook = (id) => doc.querySelector(`[data-testid="${id}"]`);
  await until(() => doc.getElementById("status").textContent === "connected", "the page to connect");
  return { dom, hook };
}

function say(page, text) {
  page.hook("chat-input").value = text;
  page.hook("chat-send").click();
}

const lines = (page) => [...page.hook("chat-messages").querySelectorAll("li")].map((li) => li.textContent);

async function main() {
  const room = `demo${Date.now()}`;
  const ann = await open(`?nick=ann&room=${room}`);
  if (ann.hook("chat-room").value !== room) throw new Error("room from ?room=");
  say(ann, "hello");
  await until(() => lines(ann).length === 1, "ann to see her own message");

  // A second visitor joining later gets the history, then live messages both ways.
  const bob = await open(`?nick=bob&room=${room}`);
  await until(() => lines(bob).length === 1, "bob to get the history");
  say(bob, "hi ann");
  await until(() => lines(ann).length === 2 && lines(bob).length === 2, "both to see bob's message");
  const want = JSON.stringify(["annhello", "bobhi ann"]);
  if (JSON.stringify(lines(ann)) !== want) throw new Error(JSON.stringify(lines(ann)));
  if (JSON.stringify(lines(bob)) !== want) throw new Error(JSON.stringify(lines(bob)));

  // Without ?room= the page joins lobby.
  const lobby = await open("");
  if (lobby.hook("chat-room").value !== "lobby") throw new Error("default room is lobby");

  for (const p of [ann, bob, lobby]) p.dom.window.close();
  console.log("chat demo: ok");
  process.exit(0);
}

main().catch((e) => fail(e.stack || e.message));
