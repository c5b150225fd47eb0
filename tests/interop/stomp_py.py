"""Herald interop: the stomp.py client (PyPI) over STOMP/TCP or over WebSocket (its WSTransport,
built on websocket-client).

Usage: python stomp_py.py tcp|ws HOST PORT. Exits 0 when every check passed; prints what failed
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
        self.heartbeats = 0

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers["receipt-id"])

    def on_error(self, frame):
        self.errors.put(frame)

    def on_heartbeat(self):
        self.heartbeats += 1


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def receipt(listener, rid):
    got = listener.receipts.get(timeout=TIMEOUT)
    expect(got == rid, f"expected receipt {rid}, got {got}")


def message(listener):
    return listener.messages.get(timeout=TIMEOUT)


TRANSPORT = "tcp"


def connect(host, port, **kw):
    if TRANSPORT == "ws":
        # Binary WebSocket messages, so bodies that are not UTF-8 (the NUL-byte blob) travel too.
        conn = stomp.WSStompConnection([(host, port)], ws_path="/v1/ws", binary_mode=True,
                                       heartbeats=(1000, 1000), auto_decode=False, **kw)
    else:
        conn = stomp.Connection12([(host, port)], heartbeats=(1000, 1000), auto_decode=False, **kw)
    listener = Listener()
    conn.set_listener("", listener)
    conn.connect(wait=True)
    return conn, listener


def queues(host, port, tag):
    """NACK redelivery and both client ack modes on a /queue, where acknowledgement matters."""
    q = f"/queue/interop.py{TRANSPORT}{tag}"
    pub, pl = connect(host, port)

    # client-individual: NACK hands the message back, redelivered; ACK removes it.
    a, al = connect(host, port)
    a.subscribe(q, id="q", ack="client-individual", headers={"receipt": "qs"})
    receipt(al, "qs")
    pub.send(q, "job-1", content_type="text/plain", headers={"receipt": "q1"})
    receipt(pl, "q1")
    m = message(al)
    expect(m.body == b"job-1" and m.headers["redelivered"] == "false", (m.headers, m.body))
    a.nack(m.headers["ack"], receipt="qn")
    receipt(al, "qn")
    again = message(al)
    expect(again.body == b"job-1" and again.headers["redelivered"] == "true",
           (again.headers, again.body))
    a.ack(again.headers["ack"], receipt="qa")
    receipt(al, "qa")
    a.disconnect()

    # client (cumulative): ACK of the third message also acknowledges the two before it, so a
    # consumer that comes after sees none of them again, only what is sent next.
    b, bl = connect(host, port)
    b.subscribe(q, id="q", ack="client", headers={"receipt": "bs"})
    receipt(bl, "bs")
    for i in range(3):
        pub.send(q, f"batch-{i}", content_type="text/plain", headers={"receipt": f"b{i}"})
        receipt(pl, f"b{i}")
    got = [message(bl) for _ in range(3)]
    expect([g.body for g in got] == [b"batch-0", b"batch-1", b"batch-2"], [g.body for g in got])
    b.ack(got[2].headers["ack"], receipt="ba")
    receipt(bl, "ba")
    # And in client mode an unacknowledged message goes back to the queue on disconnect.
    pub.send(q, "unacked", content_type="text/plain", headers={"receipt": "u1"})
    receipt(pl, "u1")
    expect(message(bl).body == b"unacked", "client mode: the next message")
    b.disconnect()

    c, cl = connect(host, port)
    c.subscribe(q, id="q", ack="client-individual", headers={"receipt": "cs"})
    receipt(cl, "cs")
    first = message(cl)
    expect(first.body == b"unacked" and first.headers["redelivered"] == "true",
           (first.headers, first.body))
    c.ack(first.headers["ack"], receipt="ca")
    receipt(cl, "ca")
    pub.send(q, "marker", content_type="text/plain", headers={"receipt": "m1"})
    receipt(pl, "m1")
    expect(message(cl).body == b"marker", "the cumulative ACK left batch-0..2 in the queue")
    c.disconnect()
    pub.disconnect()


def heart_beats(host, port, tag):
    """Both sides agreed on 1 s: an idle connection outlives several intervals on heart-beats
    alone (the server closes one silent for 2 s) and still carries a message afterwards."""
    conn, listener = connect(host, port)
    dest = f"/topic/interop.py{TRANSPORT}{tag}.hb"
    conn.subscribe(dest, id="hb", headers={"receipt": "hs"})
    receipt(listener, "hs")
    time.sleep(4.5)
    expect(conn.is_connected(), "the idle connection was closed")
    expect(listener.heartbeats >= 2, f"only {listener.heartbeats} heart-beats from the server")
    conn.send(dest, "still-alive", content_type="text/plain", headers={"receipt": "h1"})
    receipt(listener, "h1")
    expect(message(listener).body == b"still-alive", "no message after the idle time")
    conn.disconnect()


def main(host, port):
    tag = str(int(time.time() * 1000))
    topic = f"interop.py{TRANSPORT}{tag}"
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

    queues(host, port, tag)
    heart_beats(host, port, tag)
    print(f"stomp.py interop over {TRANSPORT}: ok")


if __name__ == "__main__":
    try:
        TRANSPORT = sys.argv[1]
        if TRANSPORT not in ("tcp", "ws"):
            raise ValueError(f"transport must be tcp or ws, not {TRANSPORT}")
        main(sys.argv[2], int(sys.argv[3]))
    except Exception as e:  # noqa: BLE001 - report any failure as a non-zero exit
        print(f"stomp.py interop FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
