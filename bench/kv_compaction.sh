#!/usr/bin/env bash
# Gets per second without compaction and during continuous compaction, in
# the same run of `pckv bench` (which alternates the two phases, R rounds,
# and reports medians), for 1 and 2 reader threads.
#
#   bench/kv_compaction.sh BUILD_DIR [N] [ROUNDS]
#
# The data goes to a fresh directory under BUILD_DIR; results to stdout.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [N] [ROUNDS]}
n=${2:-200000}
rounds=${3:-5}
pckv=$build/examples/kv/pckv
data=$build/kv-bench-data
mkdir -p "$data"
echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
for t in 1 2; do
	"$pckv" --dir "$data" bench --n "$n" --threads "$t" --runs "$rounds" 2>/dev/null
	echo
done
rm -rf "$data"
