#!/usr/bin/env bash
# test_cli: the pckv command line: put, get, del, scan, compact, stats, and
# the exit status of a missing key; the same with --dax (pmem backend and
# PC_DAX) where the build has the pmem backend, and `--dax demo`.  Usage: test_cli.sh PATH/TO/pckv
set -u
pckv=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/pckv-cli.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect NAME WANT_STATUS WANT_STDOUT CMD...
expect() {
	local name=$1 want_st=$2 want_out=$3 out st
	shift 3
	out=$("$@" 2>"$dir/stderr")
	st=$?
	if [[ $st == "$want_st" && $out == "$want_out" ]]; then
		ok "$name"
	else
		bad "$name: status $st (want $want_st), output '$out' (want '$want_out'), stderr: $(cat "$dir/stderr")"
	fi
}
kv() { "$pckv" --dir "$dir/data" "$@"; }

expect "get of a missing key exits 1, prints nothing" 1 "" kv get nosuchkey
expect "put" 0 "" kv put greeting "hello world"
expect "get prints the value" 0 "hello world" kv get greeting
expect "put another" 0 "" kv put greet2 "hi"
expect "put a third" 0 "" kv put other "x"
expect "overwrite" 0 "" kv put greeting "hello again"
expect "get sees the overwrite" 0 "hello again" kv get greeting
expect "scan PREFIX, in key order" 0 $'greet2\thi\ngreeting\thello again' kv scan greet
expect "scan all" 0 $'greet2\thi\ngreeting\thello again\nother\tx' kv scan
expect "del" 0 "" kv del greet2
expect "del of a missing key exits 1" 1 "" kv del greet2
expect "get after del exits 1" 1 "" kv get greet2
expect "--sync always put" 0 "" "$pckv" --dir "$dir/data" --sync always put durable yes
expect "get it" 0 "yes" kv get durable
out=$(kv stats)
for field in keys live_bytes dead_bytes log_allocated_bytes punched_bytes pc_hits pc_misses; do
	if grep -q "^$field " <<<"$out"; then ok "stats has $field"; else bad "stats lacks $field"; fi
done
if grep -q "^keys  *3$" <<<"$out"; then ok "stats: 3 keys"; else bad "stats: keys: $out"; fi
for i in 1 2 3 4 5; do kv put "tmp$i" "$(head -c 3000 /dev/zero | tr '\0' x)"; kv del "tmp$i"; done
if kv compact | grep -q "^log allocated"; then ok "compact"; else bad "compact"; fi
expect "values survive compaction" 0 "hello again" kv get greeting
# A 3 MiB binary value through stdin, with a cache smaller than the value.
head -c 3145728 /dev/urandom >"$dir/big"
if "$pckv" --dir "$dir/data" --cache 1048576 put big - <"$dir/big" &&
	"$pckv" --dir "$dir/data" --cache 1048576 get big | head -c 3145728 | cmp - "$dir/big"; then
	ok "3 MiB value from stdin, read back whole"
else
	bad "3 MiB value from stdin"
fi
expect "bad usage exits 2" 2 "" kv frobnicate
expect "bad --sync exits 2" 2 "" "$pckv" --sync sometimes get x
# --dax: the log on the pmem backend with PC_DAX.  Where the build has no
# pmem backend, pckv must say so clearly, and the rest is skipped.
dx() { "$pckv" --dir "$dir/dax" --dax "$@"; }
if dx put greeting "hello dax" 2>"$dir/dax.err"; then
	ok "--dax put"
	expect "--dax get" 0 "hello dax" dx get greeting
	expect "--dax get of a missing key exits 1" 1 "" dx get nosuchkey
	for i in 1 2 3 4 5 6 7 8; do
		dx put "tmp$i" "$(head -c 3000 /dev/zero | tr '\0' y)" && dx del "tmp$i" || bad "--dax put/del tmp$i"
	done
	expect "--dax sync always put" 0 "" "$pckv" --dir "$dir/dax" --dax --sync always put durable yes
	if dx compact >"$dir/compact.out" && grep -q "^log allocated" "$dir/compact.out"; then
		ok "--dax compact"
	else
		bad "--dax compact: $(cat "$dir/compact.out")"
	fi
	expect "--dax values survive compaction" 0 "hello dax" dx get greeting
	expect "--dax scan" 0 $'durable\tyes\ngreeting\thello dax' dx scan
	out=$(dx stats)
	for field in pc_dax_faults pc_dax_zero_faults pc_dax_allocs pc_dax_entry_waits \
		pc_dax_persists pc_dax_busy_waits; do
		if grep -q "^$field  *[0-9]" <<<"$out"; then ok "--dax stats has $field"; else bad "--dax stats lacks $field"; fi
	done
	if grep -q "^keys  *2$" <<<"$out"; then ok "--dax stats: 2 keys"; else bad "--dax stats: keys: $out"; fi
	# DAX gets pin the backend's memory: no page of the cache is filled.
	if grep -q "^pc_fills  *0$" <<<"$out" && grep -q "^pc_pages_cached  *0$" <<<"$out"; then
		ok "--dax stats: no page cached"
	else
		bad "--dax stats: pages cached on the DAX path: $out"
	fi
	if dx demo >"$dir/demo.out" 2>&1 && grep -q "all checks held" "$dir/demo.out" &&
		grep -q "DAX backend" "$dir/demo.out"; then
		ok "--dax demo"
	else
		bad "--dax demo: $(tail -5 "$dir/demo.out")"
	fi
	# The same log is readable through the file backend (one format).
	expect "the --dax log read without --dax" 0 "hello dax" "$pckv" --dir "$dir/dax" get greeting
elif grep -q "dax\|DAX\|pmem" "$dir/dax.err"; then
	ok "--dax fails with a clear message (skipping the DAX checks): $(cat "$dir/dax.err")"
else
	bad "--dax: $(cat "$dir/dax.err")"
fi
echo "$fails failed"
((fails == 0))
