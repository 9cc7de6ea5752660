#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every exported symbol (lib/libpagecache.map) has a man page doc/man/<symbol>.3.
#
# Usage: test_man.sh SOURCE_ROOT.  Exit 0 if every check holds, 1 if not.
# A page is either a full page, whose NAME and SYNOPSIS sections both name
# the symbol, or a one-line ".so man3/<page>.3" link to a full page whose
# NAME section names the symbol.  libpagecache.7 must exist too.

root=${1:-.}
map=$root/lib/libpagecache.map
man=$root/doc/man
fail=0

err() {
	echo "test_man: $*" >&2
	fail=1
}

# The text of section $2 (".SH $2" up to the next .SH) of page $1.
section() {
	sed -n "/^\.SH \"\{0,1\}$2\"\{0,1\}\$/,/^\.SH/p" "$1" | sed '1d;$d'
}

# Whether section $3 of page $1 names symbol $2 as a whole word.
names() {
	section "$1" "$3" | sed 's/\\f[BIRP]//g; s/\\//g' | grep -qw -- "$2"
}

[ -r "$map" ] || { echo "test_man: cannot read $map" >&2; exit 1; }
[ -d "$man" ] || { echo "test_man: no directory $man" >&2; exit 1; }

# The global: list of the version script, one symbol per line.
syms=$(sed -n '/global:/,/local:/p' "$map" | sed '1d;$d' |
	sed 's#/\*.*\*/##; s/[[:space:];]//g' | grep -v '^$')
[ -n "$syms" ] || { echo "test_man: no symbols found in $map" >&2; exit 1; }

n=0
for s in $syms; do
	n=$((n + 1))
	page=$man/$s.3
	if [ ! -f "$page" ]; then
		err "$s: no page $page"
		continue
	fi
	if [ ! -s "$page" ]; then
		err "$s: $page is empty"
		continue
	fi
	first=$(grep -v '^\.\\"' "$page" | grep -m1 -v '^[[:space:]]*$')
	case $first in
	.so\ *)
		target=$man/${first#.so man3/}
		if [ "$target" = "$man/$first" ] || [ ! -s "$target" ]; then
			err "$s: $page links to a page that is not in $man: $first"
		elif ! names "$target" "$s" NAME; then
			err "$s: $page links to $target, whose NAME section does not name $s"
		fi
		;;
	*)
		grep -q '^\.TH ' "$page" || err "$s: $page has no .TH line"
		names "$page" "$s" NAME || err "$s: $page has no NAME section naming $s"
		names "$page" "$s" SYNOPSIS || err "$s: $page has no SYNOPSIS section naming $s"
		;;
	esac
done

[ -s "$man/libpagecache.7" ] || err "no overview page $man/libpagecache.7"

if [ "$fail" -ne 0 ]; then
	echo "test_man: FAIL" >&2
	exit 1
fi
echo "test_man: $n symbols, each with a man page"
exit 0
