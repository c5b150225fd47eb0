// herald.js: a small STOMP-over-WebSocket client for Herald, with no dependencies.
//
//   const client = new Herald.Client("ws://host:8080/v1/ws", { passcode: key });
//   client.connect();
//   const sub = client.subscribe("/topic/chat.lobby", (m) => console.log(m.json()), { after: 0 });
//   await client.publish("/topic/chat.lobby", { text: "hi" });   // resolves on the RECEIPT
//
// It reconnects with exponential backoff (0.5 s doubling to 30 s, with jitter) and resubscribes
// each subscription from the last `seq` it delivered, so a topic subscription sees every event
// once, in order, across reconnects. Served by Herald at /herald.js.
(function (global) {
  "use strict";

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const PROTOCOLS = ["v12.stomp", "v11.stomp", "v10.stomp"];
  const HEART_BEAT_MS = 10000;

  function escapeHeader(text, version) {
    if (version === "1.0") return text;
    let out = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/:/g, "\\c");
    if (version === "1.2") out = out.replace(/\r/g, "\\r");
    return out;
  }

  function unescapeHeader(text, version) {
    if (version === "1.0") return text;
    return text.replace(/\\(.)/g, (whole, c) => {
      if (c === "n") return "\n";
      if (c === "c") return ":";
      if (c === "\\") return "\\";
      if (c === "r" && version === "1.2") return "\r";
      return whole;
    });
  }

  function encodeFrame(command, headers, body, version) {
    const bytes = typeof body === "string" ? encoder.encode(body) : body || new Uint8Array(0);
    const escape = command !== "CONNECT" && command !== "STOMP";
    let head = command + "\n";
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || value === null) continue;
      const v = String(value);
      head += (escape ? escapeHeader(name, version) : name) + ":" + (escape ? escapeHeader(v, version) : v) + "\n";
    }
    if (bytes.length > 0) head += "content-length:" + bytes.length + "\n";
    head += "\n";
    const h = encoder.encode(head);
    const frame = new Uint8Array(h.length + bytes.length + 1);
    frame.set(h, 0);
    frame.set(bytes, h.length);
    return frame; // the last byte is already 0
  }

  // Reads frames off a growing byte buffer: a frame may span several WebSocket messages and a
  // message may hold several frames.
  class Parser {
    constructor() {
      this.buf = new Uint8Array(0);
    }

    push(bytes) {
      const joined = new Uint8Array(this.buf.length + bytes.length);
      joined.set(this.buf, 0);
      joined.set(bytes, this.buf.length);
      this.buf = joined;
    }

    // The next frame, { heartBeat: true } for an EOL between frames, or null to wait for more.
    next(version) {
      const buf = this.buf;
      if (buf.length === 0) return null;
      if (buf[0] === 10) {
        this.buf = buf.subarray(1);
        return { heartBeat: true };
      }
      if (buf[0] === 13 && buf.length > 1 && buf[1] === 10) {
        this.buf = buf.subarray(2);
        return { heartBeat: true };
      }
      let pos = 0;
      const line = () => {
        const lf = buf.indexOf(10, pos);
        if (lf < 0) return null;
        let end = lf;
        if (end > pos && buf[end - 1] === 13) end -= 1;
        const text = decoder.decode(buf.subarray(pos, end));
        pos = lf + 1;
        return text;
      };
      const command = line();
      if (command === null) return null;
      const headers = {};
      for (;;) {
        const h = line();
        if (h === null) return null;
        if (h === "") break;
        const colon = h.indexOf(":");
        const name = unescapeHeader(h.slice(0, colon), version);
        // Repeated headers: the first one counts.
        if (!(name in headers)) headers[name] = unescapeHeader(h.slice(colon + 1), version);
      }
      let end;
      if (headers["content-length"] !== undefined) {
        end = pos + Number(headers["content-length"]);
        if (buf.length <= end) return null;
      } else {
        end = buf.indexOf(0, pos);
        if (end < 0) return null;
      }
      const body = buf.slice(pos, end);
      this.buf = buf.subarray(end + 1);
      return { command, headers, body };
    }
  }

  // A MESSAGE as handed to a subscription's callback.
  class Message {
    constructor(frame) {
      this.headers = frame.headers;
      this.binaryBody = frame.body;
      this.seq = frame.headers.seq !== undefined ? Number(frame.headers.seq) : null;
      this.destination = frame.headers.destination;
    }

    get body() {
      return decoder.decode(this.binaryBody);
    }

    json() {
      return JSON.parse(this.body);
    }
  }

  class Client {
    // url: the /v1/ws endpoint (default: this page's server). options: passcode, onConnect,
    // onDisconnect, onError (the ERROR frame's headers and body text), maxBackoffMs.
    constructor(url, options) {
      this.url = url || defaultUrl();
      this.options = options || {};
      this.subscriptions = new Map();
      this.receipts = new Map();
      this.queued = [];
      this.nextId = 1;
      this.attempts = 0;
      this.connected = false;
      this.stopped = true;
      this.version = "1.2";
      this.socket = null;
      this.timers = [];
    }

    connect() {
      this.stopped = false;
      this.open();
      return this;
    }

    // Subscribes; `options.after` (a seq) replays from the log first. Returns { id, unsubscribe }.
    subscribe(destination, callback, options) {
      const opts = options || {};
      const id = "sub-" + this.nextId++;
      const headers = Object.assign({}, opts.headers || {});
      const sub = { id, destination, callback, headers, lastSeq: opts.after === undefined ? null : Number(opts.after) };
      this.subscriptions.set(id, sub);
      if (this.connected) this.sendSubscribe(sub);
      return {
        id,
        unsubscribe: () => {
          this.subscriptions.delete(id);
          if (this.connected) this.send("UNSUBSCRIBE", { id });
        },
      };
    }

    // Sends to a destination; an object body goes as JSON. Resolves once Herald confirms it is
    // stored (the RECEIPT), rejects if the connection drops first (the send may or may not have
    // been stored then). While disconnected, sends wait for the next connection.
    publish(destination, body, headers) {
      const h = Object.assign({}, headers || {});
      let payload = body;
      if (typeof body !== "string" && !(body instanceof Uint8Array)) {
        payload = JSON.stringify(body);
        h["content-type"] = "application/json";
      }
      return new Promise((resolve, reject) => {
        const receipt = "r-" + this.nextId++;
        h.destination = destination;
        h.receipt = receipt;
        this.receipts.set(receipt, { resolve, reject });
        if (this.connected) this.send("SEND", h, payload);
        else this.queued.push([h, payload]);
      });
    }

    disconnect() {
      this.stopped = true;
      if (this.socket && this.connected) this.send("DISCONNECT", {});
      if (this.socket) this.socket.close();
    }

    // ---- internals ----

    open() {
      const ws = new WebSocket(this.url, PROTOCOLS);
      ws.binaryType = "arraybuffer";
      this.socket = ws;
      this.parser = new Parser();
      ws.onopen = () => {
        const host = typeof location !== "undefined" ? location.hostname : "herald";
        this.send("CONNECT", {
          "accept-version": "1.2,1.1,1.0",
          host,
          "heart-beat": HEART_BEAT_MS + "," + HEART_BEAT_MS,
          passcode: this.options.passcode,
        });
      };
      ws.onmessage = (event) => {
        if (ws !== this.socket) return;
        this.heardAt = Date.now();
        const data = typeof event.data === "string" ? encoder.encode(event.data) : new Uint8Array(event.data);
        this.parser.push(data);
        for (;;) {
          const frame = this.parser.next(this.version);
          if (frame === null) break;
          if (!frame.heartBeat) this.onFrame(frame);
        }
      };
      ws.onclose = () => {
        if (ws === this.socket) this.onClosed();
      };
      ws.onerror = () => {}; // onclose follows and reconnects
    }

    onFrame(frame) {
      switch (frame.command) {
        case "CONNECTED":
          this.version = frame.headers.version || "1.0";
          this.connected = true;
          this.attempts = 0;
          this.startHeartBeats(frame.headers["heart-beat"] || "0,0");
          for (const sub of this.subscriptions.values()) this.sendSubscribe(sub);
          for (const [h, payload] of this.queued.splice(0)) this.send("SEND", h, payload);
          if (this.options.onConnect) this.options.onConnect(this);
          break;
        case "MESSAGE": {
          const sub = this.subscriptions.get(frame.headers.subscription);
          if (!sub) return;
          const message = new Message(frame);
          if (message.seq !== null) {
            // A replay after reconnecting starts after lastSeq; never hand out a seq twice.
            if (sub.lastSeq !== null && message.seq <= sub.lastSeq) return;
            sub.lastSeq = message.seq;
          }
          sub.callback(message);
          break;
        }
        case "RECEIPT": {
          const waiter = this.receipts.get(frame.headers["receipt-id"]);
          if (waiter) {
            this.receipts.delete(frame.headers["receipt-id"]);
            waiter.resolve();
          }
          break;
        }
        case "ERROR":
          if (this.options.onError) this.options.onError(frame.headers, decoder.decode(frame.body));
          break;
      }
    }

    sendSubscribe(sub) {
      const headers = Object.assign({}, sub.headers, { id: sub.id, destination: sub.destination });
      if (sub.lastSeq !== null) headers.after = String(sub.lastSeq);
      this.send("SUBSCRIBE", headers);
    }

    send(command, headers, body) {
      this.socket.send(encodeFrame(command, headers, body, this.version));
    }

    startHeartBeats(value) {
      const [sx, sy] = value.split(",").map(Number);
      const every = sy > 0 ? Math.max(HEART_BEAT_MS, sy) : 0;
      const expect = sx > 0 ? Math.max(HEART_BEAT_MS, sx) : 0;
      this.heardAt = Date.now();
      if (every > 0) {
        this.timers.push(setInterval(() => this.socket.readyState === 1 && this.socket.send("\n"), every));
      }
      if (expect > 0) {
        this.timers.push(
          setInterval(() => {
            if (Date.now() - this.heardAt > 2 * expect) this.socket.close();
          }, expect),
        );
      }
    }

    onClosed() {
      this.connected = false;
      for (const t of this.timers.splice(0)) clearInterval(t);
      for (const [id, waiter] of this.receipts) {
        this.receipts.delete(id);
        waiter.reject(new Error("connection lost before the server confirmed the send"));
      }
      if (this.options.onDisconnect) this.options.onDisconnect(this);
      if (this.stopped) return;
      const max = this.options.maxBackoffMs || 30000;
      const base = Math.min(max, 500 * 2 ** this.attempts);
      this.attempts += 1;
      const delay = base / 2 + Math.random() * (base / 2);
      this.timers.push(setTimeout(() => !this.stopped && this.open(), delay));
    }
  }

  function defaultUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + "/v1/ws";
  }

  global.Herald = { Client, Parser, encodeFrame };
})(typeof window !== "undefined" ? window : globalThis);
