#!/usr/bin/env bash
# test_server: pckv serve driven by Debian's redis-cli and redis-benchmark,
# unmodified, and by raw sockets: every supported command, pipelining,
# malformed input (an error reply, the connection closed, the server alive),
# a shutdown by SIGTERM with requests in flight, and the data after a restart.
#   test_server.sh PATH/TO/pckv
# Exit 77 (skipped) without redis-cli, redis-benchmark or python3.
set -uo pipefail

pckv=${1:?usage: test_server.sh PATH/TO/pckv}
for tool in redis-cli redis-benchmark python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (Debian: redis-tools, python3)"
		exit 77
	fi
done

tmp=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/data"

fails=0
checks=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
# check WHAT EXPECTED ACTUAL
check() {
	checks=$((checks + 1))
	if [[ $2 != "$3" ]]; then
		fail "$1: expected [$2], got [$3]"
	else
		echo "ok: $1"
	fi
}
# check_has WHAT NEEDLE HAYSTACK
check_has() {
	checks=$((checks + 1))
	if [[ $3 != *"$2"* ]]; then
		fail "$1: [$2] not in [${3:0:300}]"
	else
		echo "ok: $1"
	fi
}

port=
# start [pckv options...]: serve on a free port, wait for it to listen.
start() {
	: >"$tmp/out"
	"$pckv" --dir "$tmp/data" "$@" serve --port 0 --threads "${start_threads:-2}" \
		>"$tmp/out" 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 200); do
		port=$(sed -n 's/^pckv: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/out")
		[[ -n $port ]] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: pckv serve did not start"
	cat "$tmp/err"
	exit 1
}
# stop SIGNAL: signal the server and check that it exits 0 after syncing.
stop() {
	kill "-$1" "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=
	check "exit status after SIG$1" 0 "$rc"
	check_has "SIG$1: synced before exit" "synced" "$(cat "$tmp/err")"
}
cli() {
	timeout 20 redis-cli -p "$port" "$@" 2>&1
}
# raw HEX_OR_TEXT: send bytes (python escapes) on a fresh connection, print
# the reply (python repr) and whether the server closed the connection.
raw() {
	timeout 20 python3 - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
# A protocol error closes at once; a connection still open after 1 s is open.
s.settimeout(1.0)
data = b""
closed = False
try:
    while True:
        b = s.recv(65536)
        if not b:
            closed = True
            break
        data += b
except socket.timeout:
    pass
print(repr(data)[2:-1] + (" <closed>" if closed else " <open>"))
PY
}

start

echo "--- commands"
check "PING" PONG "$(cli ping)"
check "PING msg" hello "$(cli ping hello)"
check "SET" OK "$(cli set k1 v1)"
check "GET" v1 "$(cli get k1)"
check "SET binary-ish key and value" OK "$(cli set 'a key' $'two\nlines\tand tab')"
check "GET binary-ish" $'two\nlines\tand tab' "$(cli get 'a key')"
check "GET absent" "" "$(cli get nope)"
check "SET overwrite" OK "$(cli set k1 v1b)"
check "GET overwritten" v1b "$(cli get k1)"
check "SET k2" OK "$(cli set k2 v2)"
check "EXISTS many" 3 "$(cli exists k1 k2 nope k1)"
check "DBSIZE" 3 "$(cli dbsize)"
check "DEL many" 2 "$(cli del k1 nope k2)"
check "EXISTS after DEL" 0 "$(cli exists k1 k2)"
check "DBSIZE after DEL" 1 "$(cli dbsize)"
check_has "SET with an option is refused" "ERR SET option 'EX' is not supported" "$(cli set k3 v EX 10)"
check "nothing stored by the refused SET" 0 "$(cli exists k3)"
check_has "wrong arity" "ERR wrong number of arguments for 'get' command" "$(cli get)"
check_has "unknown command" "ERR unknown command 'nosuch', with args beginning with: 'a' 'b'" "$(cli nosuch a b)"
check "CONFIG GET save" save "$(cli config get save)"
check "CONFIG GET save: name and empty value" 2 "$(cli config get save | wc -l)"
check "CONFIG GET appendonly" $'appendonly\nno' "$(cli config get appendonly)"
check_has "CONFIG GET pattern" "maxclients" "$(cli config get 'max*')"
check_has "CONFIG SET refused" "is not supported by pckv (only CONFIG GET)" "$(cli config set save '')"
check "COMMAND COUNT = names in COMMAND LIST" "$(cli command list | wc -l)" "$(cli command count)"
check_has "COMMAND entry" "exists" "$(cli command info exists)"
check "COMMAND DOCS" "" "$(cli command docs)"
info=$(cli info)
check_has "INFO keyspace" "db0:keys=1,expires=0" "$info"
check_has "INFO pagecache" "pc_hits:" "$info"
check_has "INFO pagecache DAX counters" "pc_dax_busy_waits:" "$info"
check_has "INFO store" "punched_bytes:" "$info"
check_has "INFO section" "# Keyspace" "$(cli info keyspace)"
check "INFO section only" "" "$(cli info keyspace | grep pc_hits)"
check "SELECT 0" OK "$(cli select 0)"
check "SAVE" OK "$(cli save)"
check "FLUSHDB" OK "$(cli flushdb)"
check "DBSIZE after FLUSHDB" 0 "$(cli dbsize)"
check "GET after FLUSHDB" "" "$(cli get 'a key')"

echo "--- pipelining and many clients (redis-benchmark, unmodified)"
out=$(timeout 120 redis-benchmark -p "$port" -t set,get -n 20000 -c 8 -P 16 -q 2>&1 | tr '\r' '\n')
rc=$?
check "redis-benchmark -P 16 exit status" 0 "$rc"
check_has "redis-benchmark SET ran" "SET: " "$out"
check_has "redis-benchmark GET ran" "GET: " "$out"
check "benchmark key: a 3-byte value" 3 "$(cli get key:__rand_int__ | tr -d '\n' | wc -c)"
bench_value=$(cli get key:__rand_int__)
out=$(timeout 120 redis-benchmark -p "$port" -t ping,set,get -n 2000 -c 4 2>&1 | tr '\r' '\n')
check_has "redis-benchmark read CONFIG GET appendonly" 'host configuration "appendonly": no' "$out"
check "no config warning from redis-benchmark" "" "$(grep -i 'could not fetch' <<<"$out")"
# 1000 requests in one write: multibulk and inline, every reply in order.
pipe=$(timeout 30 python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
req = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\np%d\r\n$%d\r\nv%d\r\n" % (len(b"p%d" % i), i, len(b"v%d" % i), i)
               for i in range(500))
req += b"".join(b"GET p%d\r\n" % i for i in range(500))
s.sendall(req)
want = b"+OK\r\n" * 500 + b"".join(b"$%d\r\nv%d\r\n" % (len(b"v%d" % i), i) for i in range(500))
got = b""
while len(got) < len(want):
    b = s.recv(65536)
    if not b:
        break
    got += b
print("match" if got == want else "mismatch: %r" % got[:200])
PY
)
check "1000 pipelined requests in one write" match "$pipe"
# Big values, and a client that writes 20000 GETs before reading anything:
# the server must pause (its replies exceed its output high-water mark and
# the socket buffers) and resume, losing and reordering nothing.
big=$(timeout 60 python3 - "$port" <<'PY'
import socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
def req(*args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
def read_exact(n, buf):
    while len(buf[0]) < n:
        b = s.recv(1 << 20)
        if not b:
            raise SystemExit("closed")
        buf[0] += b
    out, buf[0] = buf[0][:n], buf[0][n:]
    return out
buf = [b""]
val = bytes(range(256)) * 4096            # 1 MiB, every byte value
s.sendall(req(b"SET", b"big", val) + req(b"GET", b"big"))
ok = read_exact(5, buf) == b"+OK\r\n"
hdr = b"$%d\r\n" % len(val)
ok = ok and read_exact(len(hdr) + len(val) + 2, buf) == hdr + val + b"\r\n"
small = b"v" * 1000
s.sendall(req(b"SET", b"small", small))
ok = ok and read_exact(5, buf) == b"+OK\r\n"
n = 20000
one = b"$1000\r\n" + small + b"\r\n"
sender = threading.Thread(target=s.sendall, args=(req(b"GET", b"small") * n,))
sender.start()
time.sleep(0.5)       # 20 MB of replies fill the socket buffers meanwhile
got = read_exact(len(one) * n, buf)
sender.join()
ok = ok and got == one * n
print("match" if ok else "mismatch")
PY
)
check "1 MiB value round trip, 20000 pipelined GETs with backpressure" match "$big"

echo "--- malformed input: an error, the connection closed, the server alive"
check "bad multibulk length" "-ERR Protocol error: invalid multibulk length\\r\\n <closed>" "$(raw '*abc\r\n')"
check "huge multibulk count" "-ERR Protocol error: invalid multibulk length\\r\\n <closed>" "$(raw '*99999999\r\n')"
check "bulk expected" "+PONG\\r\\n-ERR Protocol error: expected '\$', got '+'\\r\\n <closed>" \
	"$(raw '*1\r\n$4\r\nPING\r\n*2\r\n+oops\r\n')"
check "huge bulk length" "-ERR Protocol error: invalid bulk length\\r\\n <closed>" \
	"$(raw '*2\r\n$3\r\nGET\r\n$999999999999\r\n')"
check "bulk over the 8 MiB limit" "-ERR Protocol error: invalid bulk length\\r\\n <closed>" \
	"$(raw '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8388609\r\n')"
check "negative bulk length" "-ERR Protocol error: invalid bulk length\\r\\n <closed>" \
	"$(raw '*1\r\n$-3\r\n')"
check "unbalanced quotes" "-ERR Protocol error: unbalanced quotes in request\\r\\n <closed>" \
	"$(raw 'GET "abc\r\n')"
long=$(head -c 70000 /dev/zero | tr '\0' 'a')
check "too big inline request" "-ERR Protocol error: too big inline request\\r\\n <closed>" \
	"$(raw "$long")"
check_has "binary garbage" "-ERR " "$(raw '\x00\xff\x13garbage\r\n*1\r\n$1\r\n')"
check "inline PING, connection kept" "+PONG\\r\\n <open>" "$(raw 'PING\r\n')"
check "server alive after malformed input" PONG "$(cli ping)"
# 2000 connections, each with a few random requests (commands with odd
# arguments, inline and multibulk), most of them mutated, then a PING; the
# server must stay up and answer protocol errors.
fuzz=$(timeout 120 python3 - "$port" 2000 <<'PY'
import random, socket, sys
port = int(sys.argv[1])
rnd = random.Random(7)
cmds = [b"GET", b"SET", b"DEL", b"EXISTS", b"DBSIZE", b"PING", b"ECHO", b"INFO", b"COMMAND",
        b"CONFIG", b"SELECT", b"HELLO", b"SAVE", b"DEBUG", b"get", b"sEt", b"NOPE"]
words = [b"", b"k", b"x" * 70000, b"GET", b"SLEEP", b"0", b"-1", b"99999999999", b"*", b"docs",
         b"count", b"info", b"save", b"a*", b"EX", b"0.001", b"\x00\xff", b"2"]
def req():
    args = [rnd.choice(cmds)] + [rnd.choice(words) for _ in range(rnd.randrange(4))]
    if rnd.random() < 0.3:
        return b" ".join(args).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
def mutate(b):
    b = bytearray(b)
    for _ in range(rnd.randrange(3)):
        op = rnd.randrange(3)
        i = rnd.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rnd.randrange(256)
        elif op == 1:
            b[i:i] = rnd.choice([b"*", b"$", b"\r\n", b"-1", b"999999", b'"', b"\x00"])
        else:
            del b[i:i + rnd.randrange(8)]
    return bytes(b)
errors = closed = 0
for n in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = b"".join(req() for _ in range(rnd.randrange(1, 6)))
    if rnd.random() < 0.7:
        data = mutate(data)
    try:
        s.sendall(data + b"PING\r\n")
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            x = s.recv(1 << 20)
            if not x:
                break
            got += x
    except OSError:
        got = b""
    errors += got.count(b"\r\n-ERR Protocol error") + got.startswith(b"-ERR Protocol error")
    s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"PING\r\n")
print("alive" if s.recv(100) == b"+PONG\r\n" else "dead", errors)
PY
)
check_has "2000 fuzzed connections, server alive" "alive " "$fuzz"
check "fuzzed connections got protocol errors" "" "$(awk '$2 < 100' <<<"$fuzz")"

echo "--- shutdown by SIGTERM with requests in flight, then restart"
stop TERM
start_threads=1 start
check "SET before restart" OK "$(cli set persist 'survives a restart')"
# Requests in flight at SIGTERM, with one worker: client A keeps the worker
# busy in DEBUG SLEEP 1; meanwhile client B (already served) sends 300 SETs
# in one write and the server gets SIGTERM.  A's command must finish and be
# answered, and B's SETs, read only after the stop, executed and answered.
timeout 30 python3 - "$port" "$pid" >"$tmp/inflight" <<'PY' &
import os, signal, socket, sys, time
port = int(sys.argv[1])
b = socket.create_connection(("127.0.0.1", port), timeout=20)
b.sendall(b"PING\r\n")
assert b.recv(100) == b"+PONG\r\n"
a = socket.create_connection(("127.0.0.1", port), timeout=20)
a.sendall(b"DEBUG SLEEP 1\r\n")
time.sleep(0.3)
b.sendall(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nf%d\r\n$3\r\nval\r\n" % (len(b"f%d" % i), i)
                   for i in range(300)))
os.kill(int(sys.argv[2]), signal.SIGTERM)
def all_of(s):
    got = b""
    try:
        while True:
            x = s.recv(65536)
            if not x:
                break
            got += x
    except OSError:
        pass
    return got
print(all_of(a).decode().strip(), all_of(b).count(b"+OK\r\n"))
PY
client=$!
rc=0
wait "$pid" || rc=$?
pid=
wait "$client"
check "exit status after SIGTERM" 0 "$rc"
check_has "SIGTERM: synced before exit" "synced" "$(cat "$tmp/err")"
answered=$(cat "$tmp/inflight")
check "in-flight DEBUG SLEEP and all 300 SETs answered" "+OK 300" "$answered"

start
check "value after SIGTERM and restart" "survives a restart" "$(cli get persist)"
check "in-flight SETs kept" 300 "$(cli exists $(seq -f 'f%g' 0 299))"
check "benchmark key kept" "$bench_value" "$(cli get key:__rand_int__)"
stop INT
check "the command line sees the data" "survives a restart" "$("$pckv" --dir "$tmp/data" get persist)"

echo "--- bad options"
"$pckv" --dir "$tmp/data" serve --port 70000 >/dev/null 2>&1
check "--port 70000 refused" 2 "$?"
"$pckv" --dir "$tmp/data" serve --threads 0 >/dev/null 2>&1
check "--threads 0 refused" 2 "$?"

echo "$((checks - fails)) passed, $fails failed"
((fails == 0))
