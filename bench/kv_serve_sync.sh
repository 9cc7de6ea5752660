#!/usr/bin/env bash
# bench/kv_serve_sync.sh OLD_PCKV NEW_PCKV [REPS] [N]: `pckv --sync always serve`
# of two pckv builds, alternating REPS times (default 3): each run starts the
# server on a fresh directory (--port 0 --threads 2) and runs
# redis-benchmark -t set,get -n N -c 16 -q (N default 20000).  Used to compare
# per-write syncs with group commit (bench/results-redis.txt).  Not a CI test.
set -u
old=$1 new=$2 reps=${3:-3} n=${4:-20000}
for ((r = 1; r <= reps; r++)); do
	for which in old new; do
		bin=${!which}
		d=$(mktemp -d)
		"$bin" --dir "$d/data" --sync always serve --port 0 --threads 2 >"$d/out" 2>&1 &
		pid=$!
		for i in $(seq 50); do grep -q listening "$d/out" && break; sleep 0.1; done
		port=$(sed -n 's/^pckv: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/out")
		res=$(redis-benchmark -p "$port" -t set,get -n "$n" -c 16 -q 2>/dev/null | tr '\r' '\n' | grep -E "^(SET|GET):.*p50" )
		echo "$which rep $r: $(echo $res)"
		kill -TERM $pid; wait $pid
		rm -rf "$d"
	done
done
