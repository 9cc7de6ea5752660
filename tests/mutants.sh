#!/usr/bin/env bash
# Mutants prove the tests (issue 5, item 3): build each mutant of
# tests/mutants.list, a build with one named protection disabled
# (-Dmutant=NAME), run the tests that must catch it, and say "caught" or
# "missed".
#
#   tests/mutants.sh [NAME...]     all mutants of the list, or only these
#
# Build directories are build-mutant-NAME at the top of the source tree
# (-Dmutant=NAME -Dfault_inject=true -Dexamples=false -Dbench=false), kept
# between runs.  A mutant is caught when every test listed for it passes in
# its build AND was set up there to look for it: a race test run with
# --expect-violations (tests/race/meson.build adds it for the mutant the test
# targets), which passes only if it sees a violation, or a should_fail test
# that failed (EXPECTEDFAIL).  A listed test that passes without looking
# for the mutant, fails, crashes or times out makes the mutant missed.
#
# It also checks that every choice of the meson option 'mutant' but 'none'
# has a line in tests/mutants.list, so a new mutant cannot be forgotten.
#
# Prints one line per mutant and, last, "mutants: N of M caught" (M counts
# unlisted choices as missed).  Exit 0 if all are caught, else 1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
list=$here/mutants.list

# The choices of option('mutant', ...) in meson_options.txt, 'none' left out.
choices=$(python3 - "$top/meson_options.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"option\(\s*'mutant'.*?choices\s*:\s*\[(.*?)\]", text, re.S)
if not m:
    sys.exit("no option 'mutant' with choices in " + sys.argv[1])
for c in re.findall(r"'([^']*)'", m.group(1)):
    if c != 'none':
        print(c)
PY
) || { echo "mutants: cannot read the choices of option 'mutant'"; echo "mutants: 0 of 1 caught"; exit 1; }

declare -A tests_of=()
order=()
while read -r name rest; do
	[[ -z $name || $name == \#* ]] && continue
	if [[ -z $rest ]]; then
		echo "mutants: $list: $name names no test"
		tests_of[$name]=""
	else
		tests_of[$name]=$rest
	fi
	order+=("$name")
done <"$list"

caught=0
total=0
missed=()
for c in $choices; do
	if [[ -z ${tests_of[$c]+set} ]]; then
		echo "mutant $c: missed (a choice of -Dmutant with no line in tests/mutants.list)"
		missed+=("$c")
		total=$((total + 1))
	fi
done
for name in "${order[@]}"; do
	if ! grep -qx "$name" <<<"$choices"; then
		echo "mutant $name: missed (listed in tests/mutants.list, but not a choice of -Dmutant)"
		missed+=("$name")
		total=$((total + 1))
	fi
done

# The mutants to run: the arguments, or all of the list.
run=("$@")
((${#run[@]})) || run=("${order[@]}")

# verdict DIR TEST...: "caught" or "missed (why)" from the last meson test run in DIR.
verdict() {
	local dir=$1
	shift
	python3 - "$dir" "$@" <<'PY'
import json, sys
d, names = sys.argv[1], sys.argv[2:]
results = {}
for line in open(d + "/meson-logs/testlog.json"):
    r = json.loads(line)
    results[r["name"].split(" / ")[-1]] = r	# "project:suite / name"
why = []
for n in names:
    r = results.get(n)
    if r is None:
        why.append(n + ": no such test, or it did not run")
    elif r["result"] == "EXPECTEDFAIL":
        pass
    elif r["result"] != "OK":
        why.append("%s: %s (exit %s)" % (n, r["result"], r.get("returncode")))
    elif "--expect-violations" not in r["command"]:
        why.append(n + ": passed without --expect-violations, so it does not target this mutant")
print("caught" if not why else "missed (" + "; ".join(why) + ")")
PY
}

start_all=$SECONDS
for name in "${run[@]}"; do
	[[ -n ${tests_of[$name]+set} ]] || { echo "mutants: $name is not in tests/mutants.list"; exit 1; }
	grep -qx "$name" <<<"$choices" || continue	# reported above
	total=$((total + 1))
	dir=$top/build-mutant-$name
	start=$SECONDS
	echo "=== mutant $name: tests ${tests_of[$name]}"
	opts=(-Dmutant="$name" -Dfault_inject=true -Dexamples=false -Dbench=false)
	if [[ -f $dir/build.ninja ]]; then
		meson configure "$dir" "${opts[@]}" >/dev/null
	else
		meson setup "$dir" "$top" "${opts[@]}" >/dev/null
	fi || { echo "mutant $name: missed (meson could not configure it)"; missed+=("$name"); continue; }
	if ! ninja -C "$dir" >"$dir/mutant-ninja.log" 2>&1; then
		tail -20 "$dir/mutant-ninja.log"
		echo "mutant $name: missed (the build failed)"
		missed+=("$name")
		continue
	fi
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs ${tests_of[$name]} || :
	# shellcheck disable=SC2086
	v=$(verdict "$dir" ${tests_of[$name]})
	echo "mutant $name: $v [$((SECONDS - start)) s]"
	if [[ $v == caught ]]; then
		caught=$((caught + 1))
	else
		missed+=("$name")
	fi
done
echo "mutants: took $((SECONDS - start_all)) s"
((${#missed[@]})) && echo "mutants: missed: ${missed[*]}"
echo "mutants: $caught of $total caught"
((caught == total))
