#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shrink a failing pcx log to a short one that fails the same way.

Usage: pcx-shrink.py PCX IN.log OUT.log [--tries N]

Removes chunks of ops (halves, then quarters, ... then single ops) and keeps
a removal whenever `PCX --replay` still fails with the same kind of failure:
the same op name and the same message up to its first colon (for example
"truncate ...: last page, past EOF").  A failure that depends on timing (the
flusher thread) may not replay every time: --tries N counts a candidate as
failing if any of N replays fails.  The config line is kept as it is.
"""
import os
import re
import subprocess
import sys
import tempfile

SIG = re.compile(r"pcx: FAILED: seed \d+, op \d+ \((\S+)[^)]*\): ([^:\n]*)")


def signature(pcx, header, ops, tries):
    fd, path = tempfile.mkstemp(suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write("".join(header + ops))
    try:
        for _ in range(tries):
            p = subprocess.run([pcx, "--replay", path, "--quiet"], capture_output=True,
                               text=True)
            m = SIG.search(p.stderr)
            if p.returncode == 1 and m:
                return m.groups()
        return None
    finally:
        os.unlink(path)


def main():
    args = sys.argv[1:]
    tries = 1
    if "--tries" in args:
        i = args.index("--tries")
        tries = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    pcx, src, dst = args
    with open(src) as f:
        lines = f.readlines()
    header = [l for l in lines if l.startswith("config ")]
    ops = [l for l in lines if l.strip() and not l.startswith("#") and not l.startswith("config ")]
    want = signature(pcx, header, ops, tries)
    if not want:
        sys.exit("%s does not fail under %s" % (src, pcx))
    print("failure: %s: %s; %d ops" % (want[0], want[1], len(ops)))
    chunk = max(len(ops) // 2, 1)
    while True:
        i = 0
        while i < len(ops):
            cand = ops[:i] + ops[i + chunk:]
            if cand and signature(pcx, header, cand, tries) == want:
                ops = cand
                print("  %d ops" % len(ops))
            else:
                i += chunk
        if chunk == 1:
            break
        chunk = max(chunk // 2, 1)
    with open(dst, "w") as f:
        f.write("# pcx log, shrunk from %s: fails with %s: %s\n" % (os.path.basename(src), *want))
        f.write("".join(header + ops))
    print("%d ops in %s" % (len(ops), dst))


if __name__ == "__main__":
    main()
