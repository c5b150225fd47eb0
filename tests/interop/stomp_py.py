"""Herald interop: the stomp.py client (PyPI) over STOMP/TCP.

Usage: python stomp_py.py HOST PORT. Exits 0 when every check passed; prints what failed
otherwise. Run by crates/herald/tests/stomp_interop.rs against a real server.
"""

import json
import queue
import sys
import time

import stomp

TIMEOUT = 10


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()
        self.receipts = queue.Queue()
        self.errors = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])

    def on_error(self, frame):
        self.errors.put(frame)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def receipt(listener, rid):
    got = listener.receipts.get(timeout=TIMEOUT)
    expect(got == rid, f"expected receipt {rid}, got {got}")


def message(listener):
    return listener.messages.get(timeout=TIMEOUT)


def connect(host, port, **kw):
    conn = stomp.Connection12([(host, port)], heartbeats=(1000, 1000), auto_decode=False, **kw)
    listener = Listener()
    conn.set_listener("", listener)
    conn.connect(wait=True)
    return conn, listener


def main(host, port):
    tag = str(int(time.time() * 1000))
    topic = f"interop.py{tag}"
    sub, sl = connect(host, port)
    pub, pl = connect(host, port)

    # Subscribe (client-individual), publish JSON with a user header and a receipt.
    sub.subscribe(f"/topic/{topic}.>", id="1", ack="client-individual", headers={"receipt": "s1"})
    receipt(sl, "s1")
    pub.send(f"/topic/{topic}.a", json.dumps({"hello": "world"}), content_type="application/json",
             headers={"receipt": "p1", "event-type": "greeting", "x-trace": "abc"})
    receipt(pl, "p1")
    m = message(sl)
    expect(m.headers["destination"] == f"/topic/{topic}.a", m.headers)
    expect(m.headers["event-type"] == "greeting", m.headers)
    expect(m.headers["x-trace"] == "abc", m.headers)
    expect(json.loads(m.body) == {"hello": "world"}, m.body)
    first_seq = int(m.headers["seq"])
    sub.ack(m.headers["ack"], receipt="a1")
    receipt(sl, "a1")

    # Binary body with NUL bytes.
    blob = b"\x00\x01\xfe\xff\x00"
    pub.send(f"/topic/{topic}.bin", blob, content_type="application/octet-stream",
             headers={"receipt": "p2"})
    receipt(pl, "p2")
    m = message(sl)
    expect(m.body == blob, m.body)
    expect(m.headers["content-type"] == "application/octet-stream", m.headers)
    sub.nack(m.headers["ack"], receipt="n1")
    receipt(sl, "n1")

    # A transaction: nothing arrives until COMMIT, then both do.
    tx = pub.begin()
    pub.send(f"/topic/{topic}.tx", "one", content_type="text/plain", transaction=tx)
    pub.send(f"/topic/{topic}.tx", "two", content_type="text/plain", transaction=tx)
    time.sleep(0.3)
    expect(sl.messages.empty(), "a transaction's SENDs appeared before COMMIT")
    pub.commit(tx, headers={"receipt": "c1"})
    receipt(pl, "c1")
    bodies = [message(sl), message(sl)]
    expect([b.body for b in bodies] == [b"one", b"two"], [b.body for b in bodies])
    for b in bodies:
        sub.ack(b.headers["ack"])

    # Replay with `after` from a fresh connection: the same events, in order.
    replay, rl = connect(host, port)
    replay.subscribe(f"/topic/{topic}.>", id="r", headers={"after": str(first_seq - 1)})
    seqs = [int(message(rl).headers["seq"]) for _ in range(4)]
    expect(seqs == sorted(seqs) and seqs[0] == first_seq, seqs)

    # Publishing to herald.* is refused with an ERROR.
    pub.send("/topic/herald.nope", "x")
    err = pl.errors.get(timeout=TIMEOUT)
    expect("message" in err.headers, err.headers)

    replay.disconnect()
    sub.unsubscribe("1")
    sub.disconnect()
    print("stomp.py interop: ok")


if __name__ == "__main__":
    try:
        main(sys.argv[1], int(sys.argv[2]))
    except Exception as e:  # noqa: BLE001 - report any failure as a non-zero exit
        print(f"stomp.py interop FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
