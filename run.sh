#!/usr/bin/env bash
# libpagecache entry script: the README's two commands.
#
#   ./run.sh demo   install what is missing, build, run the demo (RAM backend)
#   ./run.sh test   install what is missing, build and pass the whole test suite:
#                   the -Dwerror build with lock assertions and fault injection
#                   (unit, race and example tests), an install + pkg-config
#                   check, an ASan+UBSan build of all tests, a TSan build of the
#                   unit tests, the unit tests under valgrind memcheck, and one
#                   mutant build per protection whose race test must catch its
#                   absence.
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
	./build-demo/examples/pcdemo
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

	echo "=== build: -Dwerror=true -Ddebug_locks=true -Dfault_inject=true"
	setup build -Dwerror=true -Ddebug_locks=true -Dfault_inject=true -Dbench=false
	run_tests build

	pkgconfig_check

	echo "=== build-asan: -Db_sanitize=address,undefined"
	setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Ddebug_locks=true -Dfault_inject=true -Dbench=false
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		run_tests build-asan --timeout-multiplier 3

	echo "=== build-tsan: -Db_sanitize=thread (unit tests; tests/tsan.supp says what is suppressed and why)"
	setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbench=false -Dexamples=false
	TSAN_OPTIONS="suppressions=$top/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
		run_tests build-tsan --suite unit --timeout-multiplier 4

	echo "=== valgrind memcheck: unit tests of the -Dwerror build, zero leaks"
	# "possibly lost" is liburcu's call_rcu thread, which is never joined.
	run_tests build --suite unit --no-suite novalgrind --timeout-multiplier 20 \
		--wrapper "valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1"

	# Each mutant disables one protection; its race test must catch it
	# (the test is built with --expect-violations there).
	local mutant
	for mutant in fill_without_invalidate_lock pin_wait_with_lock_held punch_ignores_writeback \
		dax_no_entry_lock dax_punch_ignores_pins fault_ignores_mode_lock; do
		echo "=== build-mutant-$mutant"
		setup "build-mutant-$mutant" -Dmutant=$mutant -Dfault_inject=true \
			-Dexamples=false -Dbench=false
		run_tests "build-mutant-$mutant" --suite race
	done

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
