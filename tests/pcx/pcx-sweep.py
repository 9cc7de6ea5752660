#!/usr/bin/env python3
"""The allocation-failure sweep (issue 5, item 5): fail each allocation site
of the library in turn under a pcx workload.

Usage: pcx-sweep.py PCX_FI LIBDIR [--dir DIR] [--ops N] [--site NAME]

First a static check: every allocation call in LIBDIR/*.c (malloc, calloc,
realloc, strdup, strndup, aligned_alloc, posix_memalign, mmap) must carry
its PC_FAIL(site) on the same line or the line before, so that no
allocation can be added without an injection site.  Not sites: liburcu's
and the C library's own allocations, io_uring_queue_init() (the file
backend falls back to preadv/pwritev for good if the ring cannot be set
up, and test_backend_file runs that path) and pthread_create() of the
flusher (pc_open() answers its error; it is not an allocation of ours).

Then, for every site that `PCX_FI --fail-list` names, on the RAM, file and
pmem backends (a build without libpmem2 skips pmem and its sites; ram and
pmem run with --dax, so DAX and range-pin sites are reached), pcx runs a short workload with a tiny budget twice: failing
the site's first hit, and failing every 3rd hit from the 2nd on.  pcx
accepts -ENOMEM from any call only if a failure was injected during it,
checks that the call changed nothing where the API promises that (punch,
zero, truncate, PC_LOCKED reads; a write grows the size only over what it
wrote; pc_open leaves no handle), retries the rest, checks its shadow after
every op, and after every close and reopen reads everything back: nothing
lost.  Under ASan, LeakSanitizer fails a run that leaked.

A site that no run failed even once makes the sweep fail, so coverage
cannot rot silently.  Prints "swept N sites".
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

ALLOC = re.compile(r'\b(malloc|calloc|realloc|strdup|strndup|aligned_alloc|posix_memalign|mmap)\s*\(')

# Runs per site and backend: (what, extra pcx arguments).
MODES = [
    ('first hit', ['--fail-nth', '1']),
    ('every 3rd', ['--fail-nth', '2', '--fail-every', '3']),
]
BACKENDS = ['ram', 'file', 'pmem']	# pmem exits 77 (skipped) without libpmem2

# Sites pcx's workload cannot reach yet, each with the test that fails it
# instead.  Keep this empty: a site belongs here only until pcx drives it.
ELSEWHERE = {
}

# Backends with direct access: pcx runs there with --dax (DAX opens, mode
# switches, range pins), which is how dax_pin and pin_rec are reached.
DAX_BACKENDS = {'ram', 'pmem'}


def static_check(libdir):
    bad = []
    for path in sorted(glob.glob(os.path.join(libdir, '*.c'))):
        lines = open(path).read().split('\n')
        in_comment = False
        for i, line in enumerate(lines):
            code = line
            if in_comment:
                if '*/' not in code:
                    continue
                code = code.split('*/', 1)[1]
                in_comment = False
            code = re.sub(r'/\*.*?\*/', '', code)
            if '/*' in code:
                code = code.split('/*', 1)[0]
                in_comment = True
            if not ALLOC.search(code):
                continue
            if 'PC_FAIL(' in code or (i and 'PC_FAIL(' in lines[i - 1]):
                continue
            bad.append('%s:%d: %s' % (os.path.basename(path), i + 1, line.strip()))
    return bad


def run(pcx, site, backend, extra, args):
    cmd = [pcx, '--backend', backend, '--budget', '8p', '--max-size', '256k', '--max-len', '32k',
           '--objects', '2', '--seed', str(args.seed), '--ops', str(args.ops), '--quiet',
           '--fail-site', site] + extra
    if backend != 'ram':
        cmd += ['--dir', args.dir]
    if backend in DAX_BACKENDS:
        cmd += ['--dax']
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r'fail-site \S+: (\d+) hits, (\d+) failed, (\d+) -ENOMEM', p.stdout)
    hits, failed, taken = (int(x) for x in m.groups()) if m else (0, 0, 0)
    return p.returncode, hits, failed, taken, cmd, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('pcx')
    ap.add_argument('libdir')
    ap.add_argument('--dir', default=os.environ.get('TMPDIR', '/tmp'))
    ap.add_argument('--ops', type=int, default=3000)
    ap.add_argument('--seed', type=int, default=11)
    ap.add_argument('--site', action='append')
    args = ap.parse_args()

    bad = static_check(args.libdir)
    if bad:
        print('pcx-sweep: allocations without a PC_FAIL() injection site:')
        for b in bad:
            print('  ' + b)
        return 1

    sites = subprocess.run([args.pcx, '--fail-list'], stdout=subprocess.PIPE, text=True,
                           check=True).stdout.split()
    if args.site:
        sites = [s for s in sites if s in args.site]
    t0 = time.time()
    errors, unreached, skipped = 0, [], set()
    for site in sites:
        total_failed = 0
        cols = []
        for backend in BACKENDS:
            for what, extra in MODES:
                rc, hits, failed, taken, cmd, out = run(args.pcx, site, backend, extra, args)
                total_failed += failed
                cols.append('%s/%s %d hits %d failed %d taken' % (backend, what, hits, failed, taken))
                if rc == 77:
                    cols[-1] = '%s skipped' % backend
                    if site.startswith(backend):
                        skipped.add(site)	# only that backend reaches it
                elif rc != 0:
                    errors += 1
                    print('pcx-sweep: FAILED: %s\n%s' % (' '.join(cmd), out))
        print('pcx-sweep: %-13s %s' % (site, '; '.join(cols)))
        if not total_failed and site in ELSEWHERE:
            skipped.add(site)
            print('pcx-sweep: %-13s covered elsewhere: %s' % (site, ELSEWHERE[site]))
        elif not total_failed and site not in skipped:
            unreached.append(site)
    swept = len(sites) - len(unreached) - len(skipped)
    print('pcx-sweep: swept %d sites (%d runs) in %.1f s' % (swept, len(sites) * len(BACKENDS) *
                                                          len(MODES), time.time() - t0))
    if skipped:
        print('pcx-sweep: not swept here (no pmem backend in this build, or covered elsewhere): ' +
              ', '.join(sorted(skipped)))
    if unreached:
        print('pcx-sweep: never failed (the workload does not reach them): ' + ', '.join(unreached))
    if errors or unreached:
        print('pcx-sweep: %d failed runs, %d unreached sites' % (errors, len(unreached)))
        return 1
    print('swept %d sites' % swept)
    return 0


if __name__ == '__main__':
    sys.exit(main())
