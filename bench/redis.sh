#!/usr/bin/env bash
# bench/redis.sh: redis-benchmark against pckv serve and against Debian's
# redis-server, in the same run, alternating, and the ratio of the medians.
#
#   bench/redis.sh [PCKV] [REPS]
#
# PCKV defaults to build-release/examples/kv/pckv, (re)built here with
# -Dbuildtype=release.  Each repetition runs, for each server,
#   redis-benchmark -t get,set -n 200000 -c 16 -q
# on 127.0.0.1 (pckv: --threads 2, --sync none, a fresh data directory in
# /tmp; redis-server: --save '' --appendonly no).  REPS defaults to 3; the
# order alternates (pckv first, then redis first, ...).  Not a CI test.
# PCKV_ARGS adds options to pckv (e.g. "--sync always"), PCKV_SERVE_ARGS
# to its serve command (e.g. "--group-commit"); REDIS_ARGS replaces
# redis-server's "--save '' --appendonly no" (e.g. "--save '' --appendonly
# yes --appendfsync always" to compare durable writes); BENCH_N replaces
# the 200000 requests (for slow configurations).
set -euo pipefail
cd "$(dirname "$0")/.."

pckv=${1:-build-release/examples/kv/pckv}
reps=${2:-3}
if [[ -z ${1:-} ]]; then
	[[ -f build-release/build.ninja ]] ||
		meson setup build-release -Dbuildtype=release -Dtests=false -Dbench=false >/dev/null
	ninja -C build-release examples/kv/pckv >/dev/null
fi
for tool in redis-benchmark redis-server; do
	command -v "$tool" >/dev/null || { echo "$tool is missing (Debian: redis-tools, redis-server)"; exit 1; }
done

tmp=$(mktemp -d)
spid=
cleanup() {
	[[ -n $spid ]] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_pckv() {
	rm -rf "$tmp/data"
	mkdir "$tmp/data"
	# shellcheck disable=SC2086
	"$pckv" --dir "$tmp/data" ${PCKV_ARGS:-} serve --port 0 --threads 2 ${PCKV_SERVE_ARGS:-} \
		>"$tmp/out" 2>"$tmp/err" &
	spid=$!
	for _ in $(seq 100); do
		port=$(sed -n 's/^pckv: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/out")
		[[ -n $port ]] && return
		sleep 0.1
	done
	echo "pckv serve did not start"; cat "$tmp/err"; exit 1
}

start_redis() {
	port=$(free_port)
	local ra
	eval "ra=(${REDIS_ARGS:-"--save '' --appendonly no"})"
	redis-server --port "$port" --bind 127.0.0.1 "${ra[@]}" --dir "$tmp" \
		--logfile "$tmp/redis.log" &
	spid=$!
	for _ in $(seq 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "redis-server did not start"; exit 1
}

stop_server() {
	kill -TERM "$spid"
	wait "$spid" || true
	spid=
}

# run NAME: one redis-benchmark run; appends "NAME TEST RPS" lines.
run() {
	local out
	out=$(redis-benchmark -p "$port" -t get,set -n "${BENCH_N:-200000}" -c 16 -q 2>&1 | tr '\r' '\n' |
		grep -E '^(SET|GET): [0-9.]+ requests per second')
	echo "$out" | sed "s/^/  $1 /"
	echo "$out" | awk -v n="$1" '{ sub(":", "", $1); print n, $1, $2 }' >>"$tmp/results"
}

echo "redis-benchmark -t get,set -n ${BENCH_N:-200000} -c 16 -q; $reps alternating repetitions"
echo "pckv: $pckv ${PCKV_ARGS:-} serve --threads 2 ${PCKV_SERVE_ARGS:-}"
echo "redis: $(redis-server --version | cut -d' ' -f3) ${REDIS_ARGS:-"--save '' --appendonly no"}"
echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%FT%TZ)"
for ((i = 0; i < reps; i++)); do
	if ((i % 2 == 0)); then order="pckv redis"; else order="redis pckv"; fi
	for who in $order; do
		"start_$who"
		run "$who"
		stop_server
	done
done

python3 - "$tmp/results" <<'PY'
import statistics, sys
r = {}
for line in open(sys.argv[1]):
    who, test, rps = line.split()
    r.setdefault((who, test), []).append(float(rps))
print("\nmedians (requests per second):")
print("%-4s %12s %12s %8s" % ("test", "pckv", "redis", "ratio"))
for test in ("SET", "GET"):
    p = statistics.median(r[("pckv", test)])
    q = statistics.median(r[("redis", test)])
    print("%-4s %12.0f %12.0f %8.2f" % (test, p, q, p / q))
PY
