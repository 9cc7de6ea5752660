#!/usr/bin/env bash
# pcfs under cp, dd, truncate, fallocate, mv, rm and a random-op exerciser: the same results as a plain directory, mounted, after unmount and after a remount.
#
# usage: test_pcfs.sh PCFS_BINARY [SCRATCH_PARENT]
# Exit 77 (skipped) where FUSE cannot be used: no /dev/fuse, no fusermount3,
# or a mount refused for want of permission.  Everything runs under a
# watchdog, and the mount is always taken down by the EXIT trap.
set -euo pipefail

PCFS=${1:?usage: test_pcfs.sh PCFS_BINARY [SCRATCH_PARENT]}
PARENT=${2:-${TMPDIR:-/tmp}}
LIMIT=${PCFS_TEST_LIMIT:-240}	# seconds for the whole test

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[[ -c /dev/fuse ]] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3"
for tool in fallocate truncate dd cmp diff python3; do
	command -v $tool >/dev/null || fail "$tool is missing"
done

T=$(realpath "$(mktemp -d "$PARENT/pcfs-test.XXXXXX")")
back=$T/back mnt=$T/mnt plain=$T/plain src=$T/src
mkdir -p "$back" "$mnt" "$plain" "$src"
pid= watchdog=

mounted() { grep -q " $mnt fuse.pcfs " /proc/mounts; }	# touches nothing under $mnt

cleanup() {
	local rc=$?
	set +e
	[[ -n $watchdog ]] && kill "$watchdog" 2>/dev/null
	if mounted; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt"
	fi
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		sleep 2
		kill -9 "$pid" 2>/dev/null
	fi
	if ((rc != 0 && rc != 77)) && [[ -s $T/pcfs.err ]]; then
		echo "--- pcfs stderr:" >&2
		cat "$T/pcfs.err" >&2
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A hung file system must not hang the test: kill pcfs, which aborts the
# connection, so blocked calls fail and the test reports it.
(
	sleep "$LIMIT" &
	sleeper=$!
	trap 'kill $sleeper; exit 0' TERM
	wait $sleeper
	echo "FAIL: watchdog: the test took more than $LIMIT s" >&2
	[[ -s $T/pcfs.pid ]] && kill -9 "$(cat "$T/pcfs.pid")" 2>/dev/null
	fusermount3 -u -z "$mnt" 2>/dev/null
) &
watchdog=$!

mount_pcfs() {
	"$PCFS" "$back" "$mnt" -f "$@" >>"$T/pcfs.err" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$T/pcfs.pid"
	for _ in $(seq 600); do
		mounted && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" || true
			pid=
			if grep -qiE "permission denied|not permitted|device not found|no such device" "$T/pcfs.err"; then
				skip "cannot mount FUSE here: $(tail -1 "$T/pcfs.err")"
			fi
			fail "pcfs exited before mounting"
		fi
		sleep 0.05
	done
	fail "pcfs did not mount within 30 s"
}

umount_pcfs() {
	local rc=0
	fusermount3 -u "$mnt"
	wait "$pid" || rc=$?
	pid=
	((rc == 0)) || fail "pcfs exited with $rc after unmount"
	! grep -q "^pcfs:" "$T/pcfs.err" || fail "pcfs reported errors: $(grep '^pcfs:' "$T/pcfs.err")"
}

# compare A B: same tree, same types and sizes, same bytes.
compare() {
	# Directory sizes are the host file system's business: not compared.
	diff <(cd "$1" && find . \( -type d -printf 'd %p\n' \) -o -printf '%y %s %p\n' | sort) \
		<(cd "$2" && find . \( -type d -printf 'd %p\n' \) -o -printf '%y %s %p\n' | sort) ||
		fail "trees differ: $1 $2"
	diff -r --no-dereference "$1" "$2" || fail "contents differ: $1 $2"
}

head -c $((4 << 20)) /dev/urandom >"$src/r4m"
head -c $((1 << 20)) /dev/urandom >"$src/r1m"

# The workload, run once in the mount and once in a plain directory.
workload() (
	set -euo pipefail
	cd "$1"
	mkdir -p d/sub e
	cp "$src/r4m" d/a
	dd if="$src/r1m" of=d/a bs=4096 seek=300 count=100 conv=notrunc status=none
	dd if="$src/r1m" of=d/a bs=1000 seek=1234 count=37 conv=notrunc status=none
	dd if="$src/r1m" of=d/a bs=5000 seek=4194000 count=1 oflag=seek_bytes conv=notrunc status=none
	sync d/a

	cp d/a d/t
	truncate -s 6M d/t
	truncate -s 1234567 d/t
	truncate -s +100000 d/t
	python3 -c 'import os, sys; os.truncate(sys.argv[1], 777777)' d/t	# truncate(2) by path

	cp "$src/r4m" d/p
	fallocate -p -o 65536 -l 1048576 d/p		# whole pages
	fallocate -p -o 1000 -l 5000 d/p		# partial pages
	fallocate -p -o 4000000 -l 1000000 d/p		# runs past EOF, keeps the size
	fallocate -z -o 2000000 -l 300001 d/p		# zero range inside
	fallocate -z -o 4100000 -l 500000 d/p		# zero range that grows the file
	fallocate -z -n -o 4500000 -l 900000 d/p	# zero range, keep size, across EOF
	fallocate -l 3000000 d/f			# allocation of a new file
	fallocate -n -o 1000 -l 8192 d/a		# allocation inside, keep size
	fallocate -o 4000000 -l 2000000 d/f		# allocation that grows

	for i in $(seq 1 100); do echo "line $i" >>d/log; done
	cat "$src/r1m" >>d/a
	printf 'tail' >>d/a

	mv d/t d/sub/t2
	mv d/sub e/sub2
	mkdir d/gone && rmdir d/gone
	cp d/p d/q && rm d/q
	ln -s ../d/a e/link

	# Rename over a file that is open: the old one lives on in its handle.
	cp "$src/r1m" d/o1
	exec 4<d/o1
	echo replacement >d/o2
	mv d/o2 d/o1
	cat <&4 >e/o1.old
	exec 4<&-

	# An open file renamed, written through its handle, renamed back over.
	echo start >d/m1
	exec 5>>d/m1
	mv d/m1 e/m2
	echo "after rename" >&5
	exec 5>&-

	# Unlinked while open: its handle still reads and writes it.
	cp "$src/r1m" d/u
	exec 3<>d/u
	rm d/u
	dd bs=4096 count=3 status=none <&3 >e/u.head
	echo "after unlink" >&3
	dd bs=1M status=none <&3 >e/u.rest
	exec 3>&-

	# An open file unlinked in a directory that is then removed: the
	# directory lists nothing (no .fuse_hidden file), fstat works, rmdir
	# works, the handle still reads.
	mkdir d/rmd
	cp "$src/r1m" d/rmd/x
	exec 6<d/rmd/x
	rm d/rmd/x
	ls -a d/rmd >e/rmd.ls
	stat -L -c '%s %h' /dev/fd/6 >e/rmd.stat
	rmdir d/rmd
	dd bs=64k status=none <&6 >e/rmd.x	# not cat: it fstat()s (see pcfs.c, HIDE)
	exec 6<&-

	# Several writers at once.
	for i in 1 2 3 4; do cp "$src/r4m" d/par$i & done
	wait
	for i in 1 2 3 4; do
		dd if="$src/r1m" of=d/par$i bs=64k seek=$((i * 3)) conv=notrunc status=none &
	done
	wait

	# Blocks: punch a synced file (the mount checks its backing file below).
	cp "$src/r4m" d/blk
	sync d/blk
)

# Random pwrite/pread/truncate/punch/zero-range on one file in two trees,
# compared after every read (an fsx in miniature; Debian has no fsx).
fsx() {
	python3 - "$@" <<'PY'
import ctypes, os, random, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP, PUNCH, ZERO = 1, 2, 16
a, b, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
fds = [os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644) for p in (a, b)]
MAX = 3 << 20
def falloc(mode, off, ln):
    for fd in fds:
        if libc.fallocate(fd, mode, off, ln) != 0:
            sys.exit("fallocate(%d, %d, %d) on fd %d: errno %d" % (mode, off, ln, fd, ctypes.get_errno()))
for i in range(n):
    op = rnd.choice("wwwrrtpzZ")
    off = rnd.randrange(MAX)
    ln = rnd.choice([1, 17, 4096, 5000, 65536, 200000])
    if op == "w":
        data = rnd.randbytes(ln)
        for fd in fds:
            os.pwrite(fd, data, off)
    elif op == "r":
        x, y = (os.pread(fd, ln, off) for fd in fds)
        if x != y:
            sys.exit("op %d: read of %d at %d differs" % (i, ln, off))
    elif op == "t":
        for fd in fds:
            os.ftruncate(fd, off)
    elif op == "p":
        falloc(PUNCH | KEEP, off, ln)
    elif op == "z":
        falloc(ZERO | KEEP, off, ln)
    else:
        falloc(ZERO, off, ln)
    if os.fstat(fds[0]).st_size != os.fstat(fds[1]).st_size:
        sys.exit("op %d (%s): sizes differ" % (i, op))
for fd in fds:
    os.fsync(fd)
    os.close(fd)
PY
}

# Reads and writes through open handles while the file is renamed back and
# forth between two directories and written through a second handle: each
# rename of an open file closes and reopens its mapping under the I/O.
rename_race() {
	python3 - "$@" <<'PY'
import os, sys, threading
top, src = sys.argv[1], open(sys.argv[2], "rb").read()
a, b = os.path.join(top, "ra"), os.path.join(top, "rb")
os.makedirs(a)
os.makedirs(b)
with open(os.path.join(a, "f"), "wb") as f:
    f.write(src)
fd = os.open(os.path.join(a, "f"), os.O_RDWR)
stop, errors = False, []
def reader():
    n = 0
    while not stop:
        off = (n * 12289) % (len(src) - 8192)
        if os.pread(fd, 8192, off) != src[off:off + 8192]:
            errors.append("read at %d" % off)
        n += 1
def writer():
    n = 0
    while not stop:
        os.pwrite(fd, src[:4096], len(src) + 4096 * (n % 64))
        n += 1
ts = [threading.Thread(target=f, daemon=True) for f in (reader, reader, writer)]
for t in ts:
    t.start()
here = os.path.join(a, "f")
try:
    for i in range(60):
        there = os.path.join(b if i % 2 == 0 else a, "f" if i % 3 else "g")
        os.rename(here, there)
        # The old name is free again: a new file may take it.
        with open(here, "wb") as f:
            f.write(b"new file %d" % i)
        with open(here, "rb") as f:
            if f.read() != b"new file %d" % i:
                errors.append("new file at an old name %d" % i)
        os.unlink(here)
        here = there
        if os.stat(here).st_size < len(src):
            errors.append("size after rename %d" % i)
except OSError as e:
    errors.append("%s at rename %d" % (e, i))
finally:
    stop = True
for t in ts:
    t.join()
os.fsync(fd)
os.close(fd)
with open(here, "rb") as f:
    data = f.read()
if data[:len(src)] != src or len(data) != len(src) + 4096 * 64:
    errors.append("final contents")
os.unlink(here)
os.rmdir(a)
os.rmdir(b)
if errors:
    sys.exit("rename race: " + ", ".join(errors[:5]))
PY
}

mount_pcfs
rename_race "$mnt" "$src/r1m" || fail "I/O during renames of an open file"
workload "$mnt"
workload "$plain"

# Punch frees the blocks of the backing file.
blocks_before=$(stat -c %b "$back/d/blk")
fallocate -p -o 0 -l $((2 << 20)) "$mnt/d/blk"
fallocate -p -o 0 -l $((2 << 20)) "$plain/d/blk"
blocks_after=$(stat -c %b "$back/d/blk")
((blocks_before - blocks_after >= (2 << 20) / 512 * 9 / 10)) ||
	fail "punch freed too few blocks: $blocks_before -> $blocks_after (512-byte blocks)"
# So does a zero range.
fallocate -z -o $((2 << 20)) -l $((1 << 20)) "$mnt/d/blk"
fallocate -z -o $((2 << 20)) -l $((1 << 20)) "$plain/d/blk"
blocks_zeroed=$(stat -c %b "$back/d/blk")
((blocks_after - blocks_zeroed >= (1 << 20) / 512 * 9 / 10)) ||
	fail "zero range freed too few blocks: $blocks_after -> $blocks_zeroed"
echo "punch: backing file blocks $blocks_before -> $blocks_after -> $blocks_zeroed"

seed=${PCFS_FSX_SEED:-$RANDOM}
fsx "$mnt/e/fsx" "$plain/e/fsx" 3000 "$seed" ||
	fail "fsx: the mount and the plain directory disagree (rerun with PCFS_FSX_SEED=$seed)"

compare "$plain" "$mnt"
[[ $(stat -c %h "$mnt/d/a") == 1 ]] || fail "link count"
echo "mounted: same as the plain directory"

umount_pcfs
[[ ! -e $back/.pcfs-orphans ]] || fail "orphans left in the backing directory"
compare "$plain" "$back"
echo "after unmount: backing files hold the final data"

mount_pcfs
compare "$plain" "$mnt"
echo more >>"$mnt/d/log"
echo more >>"$plain/d/log"
cmp "$plain/d/log" "$mnt/d/log"
umount_pcfs
compare "$plain" "$back"
echo "after a remount: same again"

# SIGTERM with a file open and its data only in the cache: pcfs unmounts,
# and its destroy callback writes everything back.
mount_pcfs
exec 3>"$mnt/d/sig"
cat "$src/r1m" >&3
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
exec 3>&-
((rc == 0 || rc == 8)) || fail "pcfs exited with $rc on SIGTERM"	# 8: libfuse's "ended by a signal"
! mounted || fail "still mounted after SIGTERM"
cmp "$src/r1m" "$back/d/sig" || fail "data of a file open at SIGTERM not written back"
echo "SIGTERM with a file open: written back"

# The backing files opened with O_DIRECT (where the host file system has it).
mount_pcfs -o pc_direct
fsx "$mnt/e/fsx-direct" "$plain/e/fsx-direct" 1500 "$seed" ||
	fail "fsx with pc_direct (PCFS_FSX_SEED=$seed)"
cp "$src/r4m" "$mnt/d/direct"
cp "$src/r4m" "$plain/d/direct"
umount_pcfs
cmp "$plain/e/fsx-direct" "$back/e/fsx-direct" && cmp "$plain/d/direct" "$back/d/direct" ||
	fail "pc_direct: backing files differ"
echo "pc_direct: same"
echo "OK"
