#!/usr/bin/python3
"""bench/ab: two reclaimd builds on one input, interleaved, compared by CPU time.

usage: ab.py RECLAIMD_A RECLAIMD_B [--mb N | --input FILE] [--pairs P]

Runs `reclaimd --once` of build A and build B on the same input (generated
with ../shared/bench/gen_users.py, N MB, default 50; or FILE), P times each
(default 40), alternating which goes first, and prints for each build the
median user CPU seconds and wall seconds, then the paired figures: for every
pair B's user time over A's, and B's wall time over A's (what bench/batch
measures: it also holds the kernel's time reading the input), their median,
mean and the mean's standard error. On a VM whose speed moves from one
minute to the next a pair's two runs are seconds apart, so their ratio is
what tells two builds apart: with 40 pairs this VM resolves about 3-4% (two
standard errors). Both builds' outputs must be identical; a difference is an
error. Exits 0, or 1 on any failure.
"""
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchargs import PY, SHARED, arg  # (bench/, next to this script)


def run(reclaimd, src, work):
    """One run on a fresh spool: (user seconds, wall seconds, md5 of the output)."""
    spool = os.path.join(work, "spool")
    shutil.rmtree(spool, ignore_errors=True)
    os.makedirs(os.path.join(spool, "inbox"))
    shutil.copy(src, os.path.join(spool, "inbox", "users.ndjson"))
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([reclaimd, "--once", "--spool", spool], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (reclaimd, p.returncode, p.stderr.decode(errors="replace")[-400:]))
    with open(os.path.join(spool, "out", "users.ndjson"), "rb") as f:
        digest = hashlib.md5(f.read()).hexdigest()
    return r1.ru_utime - r0.ru_utime, t1 - t0, digest


def main():
    if len(sys.argv) < 3 or "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__.strip())
        return 0 if "--help" in sys.argv or "-h" in sys.argv else 1
    a, b = sys.argv[1], sys.argv[2]
    pairs = arg("--pairs", 40)
    if pairs < 2:
        print("ab.py: --pairs needs at least 2", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="reclaimd-ab-")
    try:
        src = arg("--input", "")
        if not src:
            src = os.path.join(work, "users.ndjson")
            subprocess.run([PY, os.path.join(SHARED, "gen_users.py"), src, "--mb", str(arg("--mb", 50))],
                           check=True, stdout=subprocess.DEVNULL)
        user = {a: [], b: []}
        wall = {a: [], b: []}
        ratios, wall_ratios, digests = [], [], set()
        for i in range(pairs):
            got, got_wall = {}, {}
            for exe in ((a, b) if i % 2 == 0 else (b, a)):
                u, w, d = run(exe, src, work)
                user[exe].append(u)
                wall[exe].append(w)
                digests.add(d)
                got[exe] = u
                got_wall[exe] = w
            ratios.append(got[b] / got[a] - 1)
            wall_ratios.append(got_wall[b] / got_wall[a] - 1)
        if len(digests) != 1:
            print("ab.py: the two builds' outputs differ", file=sys.stderr)
            return 1
        med = statistics.median
        print("bench/ab: %d interleaved pairs on %s (%.0f MB)" % (pairs, os.path.basename(src),
                                                                  os.path.getsize(src) / 1e6))
        print("%-10s %14s %14s" % ("", "user s (med)", "wall s (med)"))
        print("%-10s %14.3f %14.3f   %s" % ("A", med(user[a]), med(wall[a]), a))
        print("%-10s %14.3f %14.3f   %s" % ("B", med(user[b]), med(wall[b]), b))
        for what, rs in (("user", ratios), ("wall", wall_ratios)):
            se = statistics.stdev(rs) / len(rs) ** 0.5
            print("B against A, pair by pair (%s): median %+.1f%%, mean %+.1f%% +- %.1f%% (standard error)"
                  % (what, 100 * med(rs), 100 * statistics.mean(rs), 100 * se))
        return 0
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print("ab.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
