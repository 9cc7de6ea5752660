#!/usr/bin/env python3
"""test_crash: SIGKILL pckv serve in the middle of a write load, restart it,
and check that every acknowledged write is there, with its value, and that
nothing is corrupt.

    test_crash.py PATH/TO/pckv [--rounds N] [--mode always|group|save|control]

Modes (the default runs all three):
  always   --sync always serve: a SET or DEL is durable once acknowledged
           (pckv runs this as the store on sync none plus group commit).
  group    --sync none serve --group-commit: the same guarantee, one sync per
           batch of requests.
  save     serve --sync none, clients send SAVE now and then: what a client
           had sent before a SAVE that was answered +OK is durable.
  control  serve --sync none, checked as strictly as 'always': acknowledged
           writes must go missing, or this test could not see a lost write
           (the user-space cache holds them; SIGKILL throws them away).

Each client owns a set of keys and keeps, per key, the state that must be
there (the last durable one) and every state sent after it, acknowledged or
not: after the restart a key must be in one of those states (a value, or
absent after a DEL), never an older state nor anything else.  Values carry
their key, round and sequence number, and some are bigger than a page.
Clients pipeline a few requests per write.  DBSIZE must lie between the
keys that must exist and those that may.  The data directory carries over
from round to round, so every restart also re-reads the earlier rounds.
"""
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLIENTS = 4
KEYS_PER_CLIENT = 150
ABSENT = None


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            b = self.s.recv(65536)
            if not b:
                raise ConnectionError("closed")
            self.buf += b
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-", b":"):
            return line
        if t == b"$":
            n = int(rest)
            if n < 0:
                return ABSENT
            while len(self.buf) < n + 2:
                b = self.s.recv(65536)
                if not b:
                    raise ConnectionError("closed")
                self.buf += b
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        raise ValueError("unexpected reply %r" % line)

    def close(self):
        self.s.close()


def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Key:
    """durable: the state that must be there; later: states sent after it."""

    def __init__(self):
        self.durable = ABSENT
        self.later = []         # [(seq, state)]


def client(port, cid, keys, mode, rnd, stop, stats):
    try:
        c = Conn(port)
    except OSError:
        return
    seq = 0
    try:
        while not stop.is_set():
            batch = []      # (seq, key index or None for SAVE, state)
            for _ in range(rnd.randint(1, 8)):
                seq += 1
                k = rnd.randrange(KEYS_PER_CLIENT)
                name = b"c%dk%d" % (cid, k)
                if rnd.random() < 0.1:
                    batch.append((seq, k, ABSENT, cmd(b"DEL", name)))
                else:
                    size = rnd.choice((8, 100, 1000, 6000)) + rnd.randrange(50)
                    head = b"%s:r%d:s%d:" % (name, stats["round"], seq)
                    val = head + bytes([97 + seq % 26]) * max(0, size - len(head))
                    batch.append((seq, k, val, cmd(b"SET", name, val)))
            if mode == "save" and rnd.random() < 0.3:
                seq += 1
                batch.append((seq, None, None, cmd(b"SAVE")))
            for s, k, state, _ in batch:
                if k is not None:
                    keys[k].later.append((s, state))
            c.send(b"".join(b[3] for b in batch))
            for s, k, state, _ in batch:
                r = c.reply()
                if isinstance(r, bytes) and r.startswith(b"-"):
                    raise SystemExit("client %d: error reply %r" % (cid, r))
                if k is None:
                    # SAVE answered: everything this client sent before it is durable.
                    for key in keys:
                        before = [x for x in key.later if x[0] < s]
                        if before:
                            key.durable = before[-1][1]
                            key.later = [x for x in key.later if x[0] > s]
                    stats["saves"] += 1
                    continue
                stats["acks"] += 1
                if mode in ("always", "group", "control"):
                    key = keys[k]
                    key.durable = state
                    key.later = [x for x in key.later if x[0] > s]
    except (OSError, ConnectionError):
        pass        # the server was killed
    finally:
        c.close()


def start(pckv, data, sync, extra=()):
    p = subprocess.Popen([pckv, "--dir", data, "--sync", sync, "serve", "--port", "0",
                          "--threads", "2", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if "listening on 127.0.0.1:" not in line:
        err = p.stderr.read().decode()
        raise SystemExit("pckv serve did not start: %r %s" % (line, err))
    if sync == "always" and "group commit" not in line:
        p.kill()
        raise SystemExit("FAIL: --sync always serve is not on group commit: %r" % line)
    return p, int(line.split(":")[2].split()[0])


def verify(port, all_keys):
    """Returns (missing or wrong, must, may): a list of problems."""
    c = Conn(port)
    problems = []
    names = []
    for cid, keys in enumerate(all_keys):
        for k in range(KEYS_PER_CLIENT):
            names.append((b"c%dk%d" % (cid, k), keys[k]))
    c.send(b"".join(cmd(b"GET", n) for n, _ in names))
    must = may = 0
    for n, key in names:
        got = c.reply()
        allowed = [key.durable] + [st for _, st in key.later]
        must += key.durable is not ABSENT and all(st is not ABSENT for _, st in key.later)
        may += any(st is not ABSENT for st in allowed)
        if got not in allowed:
            def show(v):
                return "absent" if v is ABSENT else repr(v[:40]) + "(%d bytes)" % len(v)
            problems.append("%s: got %s, allowed %s" % (n.decode(), show(got),
                                                         " | ".join(show(a) for a in allowed)))
        else:
            # Settle: what is there now is what the next round starts from.
            key.durable = got
            key.later = []
    c.send(cmd(b"DBSIZE"))
    dbsize = int(c.reply()[1:])
    if not must <= dbsize <= may:
        problems.append("DBSIZE %d not within [%d, %d]" % (dbsize, must, may))
    c.close()
    return problems


def run(pckv, mode, rounds, seed):
    rnd = random.Random(seed)
    sync = "always" if mode == "always" else "none"
    lost_total = 0
    with tempfile.TemporaryDirectory() as data:
        all_keys = [[Key() for _ in range(KEYS_PER_CLIENT)] for _ in range(CLIENTS)]
        for rno in range(rounds):
            p, port = start(pckv, data, sync, ["--group-commit"] if mode == "group" else [])
            stop = threading.Event()
            stats = {"acks": 0, "saves": 0, "round": rno}
            threads = [threading.Thread(target=client, args=(port, i, all_keys[i], mode,
                                                             random.Random(rnd.random()),
                                                             stop, stats))
                       for i in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(0.4 + rnd.random() * 1.2)
            p.send_signal(signal.SIGKILL)
            p.wait()
            stop.set()
            for t in threads:
                t.join(30)
            p.stdout.close()
            p.stderr.close()

            p, port = start(pckv, data, sync)
            problems = verify(port, all_keys)
            p.send_signal(signal.SIGTERM)
            rc = p.wait(60)
            err = p.stderr.read().decode()
            p.stdout.close()
            p.stderr.close()
            print("%s round %d: %d writes acknowledged, %d SAVEs, killed; after restart %d "
                  "problems" % (mode, rno, stats["acks"], stats["saves"], len(problems)))
            if rc != 0:
                raise SystemExit("FAIL: serve exited %d after SIGTERM: %s" % (rc, err))
            if stats["acks"] == 0:
                raise SystemExit("FAIL: no write was acknowledged before the kill")
            if mode == "control":
                lost_total += len(problems)
                continue
            for pr in problems[:10]:
                print("  " + pr)
            if problems:
                raise SystemExit("FAIL: %s: %d keys wrong after a crash" % (mode, len(problems)))
    if mode == "control":
        print("control: %d acknowledged-but-unsynced writes lost over %d rounds (must be > 0)"
              % (lost_total, rounds))
        if lost_total == 0:
            raise SystemExit("FAIL: control: no write lost without --sync always; "
                             "the checker may not see losses")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    pckv = sys.argv[1]
    rounds = 3
    modes = ["always", "group", "save", "control"]
    args = sys.argv[2:]
    while args:
        if args[0] == "--rounds":
            rounds = int(args[1])
        elif args[0] == "--mode":
            modes = [args[1]]
        else:
            raise SystemExit(__doc__)
        args = args[2:]
    seed = int(os.environ.get("PCKV_CRASH_SEED", "6"))
    for m in modes:
        run(pckv, m, rounds if m != "control" else 2, seed)
    print("%d passed, 0 failed" % len(modes))


if __name__ == "__main__":
    main()
