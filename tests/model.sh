#!/usr/bin/env bash
# Check the spin models of the invalidation protocol (doc/model/
# invalidate.pml) and of the pin wait's wake-up (doc/model/pinwait.pml)
# exhaustively, and check that each of their mutants fails, with the
# failure the mutant is about.
#
#   tests/model.sh [DIR]      DIR holds the .pml files (default: doc/model
#                             next to this script)
#
# Each run is `spin -a`, the verifier compiled with -DSAFETY (assertions and
# invalid end states, i.e. deadlocks; the model's loops are bounded, so
# there are no cycles to look for), and a full search.  It prints the state
# count and the time of each run.  Exit 0 if the model passes and every
# mutant fails as expected, 1 otherwise, 77 (skipped) without spin or a C
# compiler.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../doc/model}
cc=${CC:-cc}

if ! command -v spin >/dev/null; then
	echo "model: spin is not installed (Debian package spin): skipped"
	exit 77
fi
if ! command -v "$cc" >/dev/null; then
	echo "model: no C compiler ($cc) for the verifier: skipped"
	exit 77
fi
for f in invalidate.pml pinwait.pml; do
	[[ -f $dir/$f ]] || { echo "model: $dir/$f not found"; exit 1; }
done

work=$(mktemp -d /tmp/pc-model-XXXXXX)
trap 'rm -rf "$work"' EXIT

# name | model | spin -D options | expected: "pass", or the pan line that must appear
runs=(
	"invalidate|invalidate.pml|-DREADS=2|pass"
	"invalidate_writeback|invalidate.pml|-DCONFIG_WRITEBACK|pass"
	"pinwait|pinwait.pml||pass"
	"mutant_fill_without_invalidate_lock|invalidate.pml|-DMUTANT_FILL_WITHOUT_INVALIDATE_LOCK -DNO_G2|assertion violated G1_"
	"mutant_fill_without_invalidate_lock_no_reuse|invalidate.pml|-DMUTANT_FILL_WITHOUT_INVALIDATE_LOCK -DNO_G2 -DNO_REUSE|assertion violated G1_zero_after"
	"mutant_no_pin_wait|invalidate.pml|-DMUTANT_NO_PIN_WAIT|assertion violated G3_pins_honoured"
	"mutant_pin_wait_with_lock_held|invalidate.pml|-DMUTANT_PIN_WAIT_WITH_LOCK_HELD|invalid end state"
	"mutant_punch_ignores_writeback|invalidate.pml|-DCONFIG_WRITEBACK -DMUTANT_PUNCH_IGNORES_WRITEBACK -DNO_G2|assertion violated G6_no_stale_write"
	"mutant_wake_without_bucket_lock|pinwait.pml|-DMUTANT_WAKE_WITHOUT_BUCKET_LOCK|invalid end state"
)

bad=0
total_start=$SECONDS
for r in "${runs[@]}"; do
	IFS='|' read -r name pml defs expect <<<"$r"
	sub=$work/$name
	mkdir -p "$sub"
	cp "$dir/$pml" "$sub/"
	start=$EPOCHREALTIME
	# shellcheck disable=SC2086
	if ! (cd "$sub" && spin -a $defs "$pml" >spin.out 2>&1 &&
		"$cc" -w -O2 -DSAFETY -o pan pan.c 2>cc.out); then
		echo "model: $name: spin -a or the compile failed:"
		cat "$sub/spin.out" "$sub/cc.out" 2>/dev/null
		bad=$((bad + 1))
		continue
	fi
	(cd "$sub" && ./pan -m100000 >pan.out 2>&1)
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	search=$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\) seconds.*/\1/p' "$sub/pan.out")
	secs="$secs s (search ${search:-?} s)"
	states=$(awk '/states, stored/ {print $1; exit}' "$sub/pan.out")
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$sub/pan.out" | head -1)
	complete=yes
	grep -q "Search not completed" "$sub/pan.out" && complete=no
	first=$(grep -m1 '^pan:1:' "$sub/pan.out" || true)
	if [[ $expect == pass ]]; then
		if [[ $errors == 0 && $complete == yes ]]; then
			printf 'model: %-46s PASS   %9s states, %s\n' "$name" "$states" "$secs"
		else
			printf 'model: %-46s FAIL   errors %s, search complete: %s: %s\n' \
				"$name" "${errors:-?}" "$complete" "$first"
			echo "  replay: spin -t -p $defs $pml (after the same spin -a and pan run)"
			bad=$((bad + 1))
		fi
	else
		if [[ ${errors:-0} != 0 ]] && grep -q "$expect" "$sub/pan.out"; then
			printf 'model: %-46s FAILS as expected (%s) after %s states, %s\n' \
				"$name" "${first#pan:1: }" "$states" "$secs"
		else
			printf 'model: %-46s NOT CAUGHT: expected "%s", got errors %s: %s\n' \
				"$name" "$expect" "${errors:-?}" "${first:-none}"
			bad=$((bad + 1))
		fi
	fi
done
echo "model: ${#runs[@]} runs in $((SECONDS - total_start)) s, $bad unexpected"
((bad == 0))
