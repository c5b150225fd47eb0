// Herald's own browser client (web/herald.js) run in Node with the `ws` package as its
// WebSocket. Usage: node herald_js.mjs ws://HOST:PORT/v1/ws. Exits 0 when every check passed.
// Checks frame parsing (split and joined frames), history with `after`, and that a dropped
// connection reconnects and resumes from the last seq with no gap and no duplicate.
import { readFileSync } from "node:fs";
import vm from "node:vm";
import WebSocket from "ws";

globalThis.WebSocket = WebSocket;
vm.runInThisContext(readFileSync(new URL("../../web/herald.js", import.meta.url), "utf8"));
const { Client, Parser, encodeFrame } = globalThis.Herald;

const url = process.argv[2];
const fail = (why) => {
  console.error(`herald.js FAILED: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 30000).unref();
const expect = (cond, what) => {
  if (!cond) throw new Error(typeof what === "string" ? what : JSON.stringify(what));
};
const until = async (cond, what) => {
  const deadline = Date.now() + 10000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function parserChecks() {
  const one = encodeFrame("MESSAGE", { destination: "/topic/a", note: "x:y\nz", seq: 1 }, "hello\u0000there", "1.2");
  const two = encodeFrame("MESSAGE", { seq: 2 }, "", "1.2");
  const p = new Parser();
  // Split byte by byte: nothing until the whole frame is there.
  for (let i = 0; i < one.length - 1; i++) {
    p.push(one.subarray(i, i + 1));
    expect(p.next("1.2") === null, `frame parsed early at byte ${i}`);
  }
  // The last byte of one, a heart-beat and the whole of two in one chunk.
  p.push(new Uint8Array([...one.subarray(one.length - 1), 10, ...two]));
  const f1 = p.next("1.2");
  expect(f1.command === "MESSAGE" && f1.headers.note === "x:y\nz", f1.headers);
  expect(new TextDecoder().decode(f1.body) === "hello\u0000there", "content-length body with NUL");
  expect(p.next("1.2").heartBeat === true, "heart-beat");
  expect(p.next("1.2").headers.seq === "2", "second frame");
  expect(p.next("1.2") === null, "nothing left");
}

async function main() {
  parserChecks();
  const room = `/topic/chat.js${Date.now()}`;
  const a = new Client(url, { maxBackoffMs: 200 }).connect();
  // Published before the connection is up: it waits, then resolves on the RECEIPT.
  await a.publish(room, { nick: "a", text: "0" }, { "event-type": "chat.message", "x-note": "a:b" });

  let connects = 0;
  const got = [];
  const b = new Client(url, { maxBackoffMs: 200, onConnect: () => (connects += 1) }).connect();
  b.subscribe(room, (m) => got.push(m), { after: 0 });
  await until(() => got.length === 1, "history");
  expect(got[0].json().text === "0" && got[0].headers["x-note"] === "a:b", got[0].headers);
  await a.publish(room, { text: "1" });
  await a.publish(room, "plain 2", { "content-type": "text/plain" });
  await until(() => got.length === 3, "live messages");
  expect(got[2].body === "plain 2", got[2].body);

  // Drop B's connection; publish while it is away; it must come back and resume after its seq.
  b.socket.close();
  await a.publish(room, { text: "3" });
  await a.publish(room, { text: "4" });
  await until(() => got.length === 5, "messages after reconnecting");
  await until(() => connects === 2, "a reconnect");
  const texts = got.map((m) => (m.headers["content-type"] === "application/json" ? m.json().text : m.body));
  expect(JSON.stringify(texts) === JSON.stringify(["0", "1", "plain 2", "3", "4"]), texts);
  const seqs = got.map((m) => m.seq);
  expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), seqs);
  await new Promise((r) => setTimeout(r, 200));
  expect(got.length === 5, "no duplicates after the reconnect");

  a.disconnect();
  b.disconnect();
  console.log("herald.js: ok");
  process.exit(0);
}

main().catch((e) => fail(e.stack || e.message));
