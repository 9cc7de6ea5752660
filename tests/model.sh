#!/usr/bin/env bash
# Check the spin model of the invalidation protocol (doc/model/invalidate.pml)
# exhaustively, and check that each of its mutants fails, with the failure
# the mutant is about.
#
#   tests/model.sh [DIR]      DIR holds invalidate.pml (default: doc/model
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
model=$dir/invalidate.pml
cc=${CC:-cc}

if ! command -v spin >/dev/null; then
	echo "model: spin is not installed (Debian package spin): skipped"
	exit 77
fi
if ! command -v "$cc" >/dev/null; then
	echo "model: no C compiler ($cc) for the verifier: skipped"
	exit 77
fi
[[ -f $model ]] || { echo "model: $model not found"; exit 1; }

work=$(mktemp -d /tmp/pc-model-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/"

# name | spin -D options | expected: "pass", or the pan line that must appear
runs=(
	"model|-DREADS=2|pass"
	"model_writeback|-DCONFIG_WRITEBACK|pass"
	"mutant_fill_without_invalidate_lock|-DMUTANT_FILL_WITHOUT_INVALIDATE_LOCK -DNO_G2|assertion violated G1_"
	"mutant_no_pin_wait|-DMUTANT_NO_PIN_WAIT|assertion violated G3_pins_honoured"
	"mutant_pin_wait_with_lock_held|-DMUTANT_PIN_WAIT_WITH_LOCK_HELD|invalid end state"
	"mutant_punch_ignores_writeback|-DCONFIG_WRITEBACK -DMUTANT_PUNCH_IGNORES_WRITEBACK -DNO_G2|assertion violated G6_no_stale_write"
)

bad=0
total_start=$SECONDS
for r in "${runs[@]}"; do
	IFS='|' read -r name defs expect <<<"$r"
	sub=$work/$name
	mkdir -p "$sub"
	cp "$work/invalidate.pml" "$sub/"
	start=$EPOCHREALTIME
	# shellcheck disable=SC2086
	if ! (cd "$sub" && spin -a $defs invalidate.pml >spin.out 2>&1 &&
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
			printf 'model: %-40s PASS   %9s states, %s\n' "$name" "$states" "$secs"
		else
			printf 'model: %-40s FAIL   errors %s, search complete: %s: %s\n' \
				"$name" "${errors:-?}" "$complete" "$first"
			echo "  replay: spin -t -p $defs invalidate.pml (trail in a copy of $sub)"
			bad=$((bad + 1))
		fi
	else
		if [[ ${errors:-0} != 0 ]] && grep -q "$expect" "$sub/pan.out"; then
			printf 'model: %-40s FAILS as expected (%s) after %s states, %s\n' \
				"$name" "${first#pan:1: }" "$states" "$secs"
		else
			printf 'model: %-40s NOT CAUGHT: expected "%s", got errors %s: %s\n' \
				"$name" "$expect" "${errors:-?}" "${first:-none}"
			bad=$((bad + 1))
		fi
	fi
done
echo "model: ${#runs[@]} runs in $((SECONDS - total_start)) s, $bad unexpected"
((bad == 0))
