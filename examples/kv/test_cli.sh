#!/usr/bin/env bash
# test_cli: the pckv command line: put, get, del, scan, compact, stats, and
# the exit status of a missing key.  Usage: test_cli.sh PATH/TO/pckv
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
if "$pckv" --dir "$dir/data" --dax get greeting >/dev/null 2>"$dir/dax.err"; then
	ok "--dax works in this build"
elif grep -q "dax\|DAX\|pmem" "$dir/dax.err"; then
	ok "--dax fails with a clear message: $(cat "$dir/dax.err")"
else
	bad "--dax: $(cat "$dir/dax.err")"
fi
echo "$fails failed"
((fails == 0))
