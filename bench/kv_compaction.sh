#!/usr/bin/env bash
# Gets per second without compaction and during continuous compaction, in
# the same run of `pckv bench` (which alternates the two phases, R rounds,
# and reports medians), for 1 and 2 reader threads.
#
#   bench/kv_compaction.sh [--dax | --both K] BUILD_DIR [N] [ROUNDS]
#
# --dax runs the store with the log on the pmem backend and PC_DAX instead
# of the file backend.  --both K runs each thread count K times on each
# path, alternating file and DAX runs (so load on a shared machine falls on
# both alike), prints every run, then a table of the medians over the K runs
# of each run's median ops/s (with that run's ops/cpu-s and latencies).
#
# The data goes to a fresh directory under BUILD_DIR; results to stdout.
set -euo pipefail
mode=file
k=1
case ${1:-} in
--dax) mode=dax; shift ;;
--both) mode=both; k=${2:?--both needs K}; shift 2 ;;
esac
build=${1:?usage: $0 [--dax | --both K] BUILD_DIR [N] [ROUNDS]}
n=${2:-200000}
rounds=${3:-5}
pckv=$build/examples/kv/pckv
data=$build/kv-bench-data
out=$(mktemp)
trap 'rm -rf "$data" "$out"' EXIT
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

# run PATH THREADS: one `pckv bench` in a fresh directory; keeps its summary
# rows as "PATH THREADS PHASE OPS/S OPS/CPU-S P50 P99" in $out.
run() {
	local path=$1 t=$2 flag=() res
	[[ $path == dax ]] && flag=(--dax)
	rm -rf "$data"
	mkdir -p "$data"
	res=$("$pckv" --dir "$data" "${flag[@]}" bench --n "$n" --threads "$t" --runs "$rounds" 2>/dev/null)
	echo "$res"
	echo
	awk -v p="$path" -v t="$t" '$1 == "get" || $1 == "get+compact" || $1 == "put" {
		print p, t, $1, $3, $4, $5, $6 }' <<<"$res" >>"$out"
}

case $mode in
file | dax)
	for t in 1 2; do run "$mode" "$t"; done
	;;
both)
	for t in 1 2; do
		for ((i = 0; i < k; i++)); do
			run file "$t"
			run dax "$t"
		done
	done
	echo "medians over $k runs of each (each run: the median of $rounds rounds; $n keys):"
	printf '%-5s %-7s %-12s %12s %12s %9s %9s\n' path threads phase ops/s ops/cpu-s p50-us p99-us
	for t in 1 2; do
		for ph in put get get+compact; do
			for path in file dax; do
				awk -v p="$path" -v t="$t" -v ph="$ph" '$1 == p && $2 == t && $3 == ph' "$out" |
				sort -n -k4 | awk '{ a[NR] = $4; b[NR] = $5; c[NR] = $6; d[NR] = $7 }
				END { m = int((NR + 1) / 2); if (NR) printf "%s %s %s %s %s %s %s\n",
					$1, $2, $3, a[m], b[m], c[m], d[m] }' |
				while read -r p th phs a b c d; do
					# ops/cpu-s, p50, p99: of the run with the median ops/s
					printf '%-5s %-7s %-12s %12s %12s %9s %9s\n' "$p" "$th" "$phs" "$a" "$b" "$c" "$d"
				done
			done
		done
	done
	;;
esac
