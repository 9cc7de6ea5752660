#!/usr/bin/env bash
# pcfs throughput against the plain backing directory: dd writes and reads
# with bs=1M, the two run in alternation in the same run, medians of N runs.
#
# usage: bench/pcfs.sh [PCFS_BINARY] [SIZE_MIB] [RUNS]
#   PCFS_BINARY  default build-rel/examples/pcfs/pcfs, else build/examples/pcfs/pcfs
#   SIZE_MIB     default 256;  RUNS  default 3
# Environment: PCFS_OPTS adds pcfs options (e.g. "-o pc_direct");
# BENCH_DIR is the scratch parent (default: the build directory of PCFS).
#
# Each run, per target (pcfs mount, plain directory):
#   write        dd if=/dev/zero of=F bs=1M count=SIZE            (no fsync)
#   write+fsync  the same with conv=fsync (pc_sync: writeback + fdatasync)
#   read warm    dd if=F of=/dev/null bs=1M right after the write, with a
#                handle held open across both (pcfs drops a file's pages at
#                its last close): pcfs answers from libpagecache, the plain
#                directory from the host's page cache
#   read cold    pcfs unmounted and mounted again first (libpagecache empty;
#                the backing file is in the host's page cache, as the plain
#                file is): every read misses in libpagecache
# The host's page cache is never dropped (the machine is shared).
# Not run in CI.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
PCFS=${1:-}
if [[ -z $PCFS ]]; then
	PCFS=$top/build-rel/examples/pcfs/pcfs
	[[ -x $PCFS ]] || PCFS=$top/build/examples/pcfs/pcfs
fi
SIZE=${2:-256}
RUNS=${3:-3}
[[ -x $PCFS ]] || { echo "no pcfs binary at $PCFS" >&2; exit 1; }
PARENT=${BENCH_DIR:-$(dirname "$(dirname "$(dirname "$PCFS")")")}

T=$(realpath "$(mktemp -d "$PARENT/pcfs-bench.XXXXXX")")
back=$T/back mnt=$T/mnt plain=$T/plain
mkdir -p "$back" "$mnt" "$plain"
pid=
mounted() { grep -q " $mnt fuse.pcfs " /proc/mounts; }
cleanup() {
	set +e
	mounted && { fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"; }
	[[ -n $pid ]] && wait "$pid"
	rm -rf "$T"
}
trap cleanup EXIT

mount_pcfs() {
	# shellcheck disable=SC2086
	"$PCFS" "$back" "$mnt" -f -o pc_cache_mb=$((SIZE * 2)) ${PCFS_OPTS:-} >>"$T/pcfs.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		mounted && return 0
		sleep 0.05
	done
	echo "pcfs did not mount" >&2
	cat "$T/pcfs.log" >&2
	exit 1
}
umount_pcfs() {
	fusermount3 -u "$mnt"
	wait "$pid"
	pid=
}

# timed CMD...: run it, print the seconds it took.
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.4f\n", $2 - $1 }'
}

results=$T/results
: >"$results"
record() { echo "$1 $2 $(echo "$SIZE $3" | awk '{ printf "%.1f", $1 / $2 }')" >>"$results"; }

mount_pcfs
for run in $(seq "$RUNS"); do
	for target in pcfs plain; do
		dir=$mnt
		[[ $target == plain ]] && dir=$plain
		rm -f "$dir/f"
		: >"$dir/f"
		# pcfs keeps a file's pages while any handle has it open (the last
		# close writes back and drops them): hold one across write and read.
		exec 9<"$dir/f"
		record "$target write" "$run" \
			"$(timed dd if=/dev/zero of="$dir/f" bs=1M count="$SIZE" status=none)"
		record "$target read-warm" "$run" \
			"$(timed dd if="$dir/f" of=/dev/null bs=1M status=none)"
		exec 9<&-
		rm -f "$dir/f"
		record "$target write+fsync" "$run" \
			"$(timed dd if=/dev/zero of="$dir/f" bs=1M count="$SIZE" conv=fsync status=none)"
		if [[ $target == pcfs ]]; then
			umount_pcfs
			mount_pcfs
		fi
		record "$target read-cold" "$run" \
			"$(timed dd if="$dir/f" of=/dev/null bs=1M status=none)"
	done
done
umount_pcfs

echo "pcfs vs plain directory: dd bs=1M, $SIZE MiB, median of $RUNS runs (MiB/s)${PCFS_OPTS:+, pcfs $PCFS_OPTS}"
printf "%-12s %10s %10s %8s\n" test pcfs plain ratio
for t in write write+fsync read-warm read-cold; do
	p=$(awk -v k="pcfs $t" '$1 " " $2 == k { print $4 }' "$results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	q=$(awk -v k="plain $t" '$1 " " $2 == k { print $4 }' "$results" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	printf "%-12s %10s %10s %8s\n" "$t" "$p" "$q" "$(echo "$p $q" | awk '{ printf "%.2f", $1 / $2 }')"
done
