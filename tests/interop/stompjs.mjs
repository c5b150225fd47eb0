// Herald interop: @stomp/stompjs (npm) over WebSocket, with the `ws` package as Node 20's
// WebSocket. Usage: node stompjs.mjs ws://HOST:PORT/v1/ws. Exits 0 when every check passed.
// Run by crates/herald/tests/stomp_interop.rs against a real server.
import { Client } from "@stomp/stompjs";
import WebSocket from "ws";

Object.assign(globalThis, { WebSocket });

const url = process.argv[2];
const TIMEOUT = 10000;
const fail = (why) => {
  console.error(`stompjs interop FAILED: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 30000).unref();

function expect(cond, what) {
  if (!cond) throw new Error(typeof what === "string" ? what : JSON.stringify(what));
}

function connect() {
  return new Promise((resolve, reject) => {
    const client = new Client({
      brokerURL: url,
      reconnectDelay: 0,
      heartbeatIncoming: 1000,
      heartbeatOutgoing: 1000,
    });
    client.onConnect = () => resolve(client);
    client.onStompError = (f) => reject(new Error(`ERROR ${f.headers.message}`));
    client.onWebSocketError = () => reject(new Error("websocket error"));
    client.activate();
  });
}

function queue() {
  const items = [];
  const waiters = [];
  return {
    push(x) {
      const w = waiters.shift();
      if (w) w(x);
      else items.push(x);
    },
    next() {
      if (items.length) return Promise.resolve(items.shift());
      return new Promise((resolve, reject) => {
        waiters.push(resolve);
        setTimeout(() => reject(new Error("no message in time")), TIMEOUT);
      });
    },
  };
}

function receipt(client, id) {
  return new Promise((resolve) => client.watchForReceipt(id, resolve));
}

async function main() {
  const tag = Date.now();
  const topic = `interop.js${tag}`;
  const sub = await connect();
  const pub = await connect();
  expect(sub.connectedVersion === "1.2", `version ${sub.connectedVersion}`);

  const got = queue();
  const subscribed = receipt(sub, "s1");
  sub.subscribe(`/topic/${topic}.>`, (m) => got.push(m), { ack: "client", receipt: "s1" });
  await subscribed;

  const published = receipt(pub, "p1");
  pub.publish({
    destination: `/topic/${topic}.room1`,
    body: JSON.stringify({ text: "hi" }),
    headers: { "event-type": "chat.message", nick: "ann", receipt: "p1" },
  });
  await published;
  const m = await got.next();
  expect(m.headers.destination === `/topic/${topic}.room1`, m.headers);
  expect(m.headers.nick === "ann", m.headers);
  expect(JSON.parse(m.body).text === "hi", m.body);
  m.ack();

  // Binary body with NUL bytes.
  const blob = new Uint8Array([0, 1, 254, 255, 0]);
  pub.publish({
    destination: `/topic/${topic}.bin`,
    binaryBody: blob,
    headers: { "content-type": "application/octet-stream" },
  });
  const b = await got.next();
  expect(Buffer.from(b.binaryBody).equals(Buffer.from(blob)), Array.from(b.binaryBody));
  b.nack();

  // A transaction.
  const tx = pub.begin();
  pub.publish({ destination: `/topic/${topic}.tx`, body: "one", headers: { transaction: tx.id, "content-type": "text/plain" } });
  pub.publish({ destination: `/topic/${topic}.tx`, body: "two", headers: { transaction: tx.id, "content-type": "text/plain" } });
  // stompjs sends COMMIT without headers, so there is no receipt to wait for: the messages
  // arriving (only after COMMIT) are the proof.
  tx.commit();
  const one = await got.next();
  const two = await got.next();
  expect(one.body === "one" && two.body === "two", [one.body, two.body]);
  two.ack(); // cumulative: acknowledges `one` too

  // Replay with `after` on a fresh connection.
  const replay = await connect();
  const replayed = queue();
  replay.subscribe(`/topic/${topic}.>`, (x) => replayed.push(x), { after: String(Number(m.headers.seq) - 1) });
  const seqs = [];
  for (let i = 0; i < 4; i++) seqs.push(Number((await replayed.next()).headers.seq));
  expect(seqs[0] === Number(m.headers.seq) && seqs.every((s, i) => i === 0 || s > seqs[i - 1]), seqs);

  // A /queue in client-individual mode: NACK hands the message back, marked redelivered.
  const q = `/queue/interop.js${tag}`;
  const worker = await connect();
  const jobs = queue();
  const queued = receipt(worker, "qs");
  worker.subscribe(q, (x) => jobs.push(x), { ack: "client-individual", receipt: "qs" });
  await queued;
  const sent = receipt(pub, "q1");
  pub.publish({ destination: q, body: "job-1", headers: { "content-type": "text/plain", receipt: "q1" } });
  await sent;
  const job = await jobs.next();
  expect(job.body === "job-1" && job.headers.redelivered === "false", job.headers);
  const nacked = receipt(worker, "qn");
  job.nack({ receipt: "qn" });
  await nacked;
  const again = await jobs.next();
  expect(again.body === "job-1" && again.headers.redelivered === "true", again.headers);
  const acked = receipt(worker, "qa");
  again.ack({ receipt: "qa" });
  await acked;

  // Heart-beats (1 s both ways): an idle connection outlives several intervals, which the
  // server would not allow a silent client (it closes after 2 s), and still works afterwards.
  let beats = 0;
  worker.onHeartbeatReceived = () => beats++;
  await new Promise((r) => setTimeout(r, 4500));
  expect(worker.connected && beats >= 2, `connected ${worker.connected}, ${beats} heart-beats`);
  const after = receipt(pub, "q2");
  pub.publish({ destination: q, body: "job-2", headers: { "content-type": "text/plain", receipt: "q2" } });
  await after;
  const job2 = await jobs.next();
  expect(job2.body === "job-2" && job2.headers.redelivered === "false", job2.headers);
  job2.ack();

  await worker.deactivate();
  await replay.deactivate();
  await sub.deactivate();
  await pub.deactivate();
  console.log("stompjs interop: ok");
  process.exit(0);
}

main().catch((e) => fail(e.message));
