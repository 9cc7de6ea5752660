#!/usr/bin/env bash
# libpagecache entry script: the README's two commands.
#
#   ./run.sh demo   install what is missing, build, run the key-value store demo (pckv demo)
#   ./run.sh test   install what is missing, build and pass the whole test suite:
#                   the -Dwerror build with lock assertions and fault injection
#                   (unit, race, example and spin model tests), an install +
#                   pkg-config check, an ASan+UBSan build of all tests, a TSan
#                   build of the unit and race tests, the unit tests under
#                   valgrind memcheck, and one mutant build per protection
#                   whose tests must catch its absence (tests/mutants.sh).
#                   Each stage prints its wall time, and the last lines sum
#                   them up.
#
# Build directories go under ./build*.  Run as root on Debian (apt-get).
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

install_deps() {
	local missing=()
	while read -r pkg; do
		[[ -z $pkg || $pkg == \#* ]] && continue
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$pkg")
	done < .ci/packages
	if ((${#missing[@]})); then
		echo "run.sh: installing ${missing[*]}"
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
	fi
}

# setup DIR [meson options...]: configure DIR once, or reconfigure it.
setup() {
	local dir=$1
	shift
	if [[ -f $dir/build.ninja ]]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

passed=0
failed=0

# stage NAME: end the running stage (print and keep its wall time), start NAME.
stage_name=
stage_start=0
stage_times=()
stage() {
	if [[ -n $stage_name ]]; then
		echo "=== $stage_name: $((SECONDS - stage_start)) s"
		stage_times+=("$stage_name $((SECONDS - stage_start))s")
	fi
	stage_name=$1
	stage_start=$SECONDS
}
# count DIR: add the results of the last `meson test` in DIR to the totals.
count() {
	local p f
	read -r p f < <(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += 1
    else:
        bad += 1
print(ok, bad)
PY
)
	passed=$((passed + p))
	failed=$((failed + f))
}

# run_tests DIR [meson test options...]
run_tests() {
	local dir=$1
	shift
	if meson test -C "$dir" --print-errorlogs "$@"; then :; fi
	count "$dir"
}

demo() {
	install_deps
	setup build-demo -Dtests=false -Dbench=false
	# pckv, the bundled key-value store; its data goes to build-demo/examples/kv/pckv-demo/.
	./build-demo/examples/kv/pckv demo
}

pkgconfig_check() {
	local stage=$top/build/stage
	rm -rf "$stage"
	meson install -C build --destdir "$stage" >/dev/null
	local prefix libdir
	prefix=$(meson introspect build --buildoptions |
		python3 -c 'import json,sys; o={x["name"]:x["value"] for x in json.load(sys.stdin)}; print(o["prefix"]); print(o["libdir"])')
	libdir=$(sed -n 2p <<<"$prefix")
	prefix=$(sed -n 1p <<<"$prefix")
	[[ $libdir == /* ]] || libdir=$prefix/$libdir
	local pcdir=$stage$libdir/pkgconfig
	# An out-of-tree program, built with nothing but pkg-config.
	if PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$pcdir \
		cc -o build/stage/demo examples/demo.c \
		$(PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs libpagecache) -lpthread &&
		LD_LIBRARY_PATH=$stage$libdir build/stage/demo >/dev/null &&
		PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$pcdir \
		cc -static -o build/stage/demo-static examples/demo.c \
		$(PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$pcdir pkg-config --static --cflags --libs libpagecache) &&
		build/stage/demo-static >/dev/null; then
		echo "pkgconfig: OK (shared and static builds of examples/demo.c from the installed tree)"
		passed=$((passed + 1))
	else
		echo "pkgconfig: FAIL"
		failed=$((failed + 1))
	fi
}

test_all() {
	install_deps
	local start=$SECONDS

	stage build
	echo "=== build: -Dwerror=true -Ddebug_locks=true -Dfault_inject=true"
	setup build -Dwerror=true -Ddebug_locks=true -Dfault_inject=true -Dbench=false
	run_tests build

	stage pkgconfig
	pkgconfig_check

	stage build-asan
	echo "=== build-asan: -Db_sanitize=address,undefined"
	setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Ddebug_locks=true -Dfault_inject=true -Dbench=false
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_tests build-asan --no-suite model --timeout-multiplier 3

	stage build-tsan
	echo "=== build-tsan: -Db_sanitize=thread (unit and race tests; tests/tsan.supp says what is suppressed and why)"
	setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false -Dexamples=false \
		-Dfault_inject=true
	TSAN_OPTIONS="suppressions=$top/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
		run_tests build-tsan --suite unit --timeout-multiplier 4
	# The race tests run 10-20 times slower under TSan: each is cut to 30 s.
	PC_RACE_MAX_SECONDS=30 \
		TSAN_OPTIONS="suppressions=$top/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
		run_tests build-tsan --suite race --timeout-multiplier 2

	stage valgrind
	echo "=== valgrind memcheck: unit tests of the -Dwerror build, zero leaks"
	# "possibly lost" is liburcu's call_rcu thread, which is never joined.
	run_tests build --suite unit --no-suite novalgrind --timeout-multiplier 20 \
		--wrapper "valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1"

	# Each mutant disables one protection; the tests tests/mutants.list
	# names for it must catch it.  Each mutant counts as one test.
	stage mutants
	echo "=== mutants: tests/mutants.sh"
	local caught total
	if tests/mutants.sh | tee build/mutants.log; then :; fi
	read -r caught total < <(sed -n 's/^mutants: \([0-9]*\) of \([0-9]*\) caught$/\1 \2/p' \
		build/mutants.log) || :
	if [[ -n ${total:-} ]]; then
		passed=$((passed + caught))
		failed=$((failed + total - caught))
	else
		echo "run.sh: tests/mutants.sh gave no summary"
		failed=$((failed + 1))
	fi
	stage ""

	echo "run.sh: stage wall times: ${stage_times[*]}"
	echo "run.sh: whole suite took $((SECONDS - start)) s"
	echo "$passed passed, $failed failed"
	((failed == 0))
}

case ${1:-} in
demo) demo ;;
test) test_all ;;
*)
	echo "usage: $0 demo|test" >&2
	exit 2
	;;
esac
