#!/usr/bin/python3
"""bench/batch: the summary job on generated users, reclaimd vs the Python baseline, same run.

usage: batch.py RECLAIMD [--mb N] [--rounds R] [--json] [--flat] [--keep]

Generates N MB (default 200) of users with ../shared/bench/gen_users.py, runs
`reclaimd --once` on a spool holding it (one worker, batches of 500) and
../shared/bench/summary.py on the same file, and prints records/s, MB/s and
peak RSS of both side by side: the best of R interleaved rounds of each
(default 3; this VM's speed moves by up to 2x between minutes, for both
programs alike), then each round's pair and their ratio, and the median of
those ratios (a slow phase of the VM slows both programs of a round alike,
so a round's ratio is the figure to compare). --flat also runs reclaimd on 50 MB and 500 MB
inputs and prints both peak RSS figures (the goal: within 20% of each other).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchargs import PY, SHARED, arg  # (bench/, next to this script)


def reclaimd_run(reclaimd, src, work):
    spool = os.path.join(work, "spool-%d" % os.path.getsize(src))
    shutil.rmtree(spool, ignore_errors=True)
    os.makedirs(os.path.join(spool, "inbox"))
    shutil.copy(src, os.path.join(spool, "inbox", "users.ndjson"))
    # GNU time reports the peak RSS of reclaimd itself: ru_maxrss seen from
    # this Python process would include the child's moments before exec, when
    # it still shares this interpreter's pages.
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", reclaimd, "--once", "--spool", spool],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("bench/batch: reclaimd failed:\n" + p.stderr)
    peak_kib = int(p.stderr.strip().splitlines()[-1])
    records = sum(1 for line in open(os.path.join(spool, "done", "users.ndjson"), "rb") if line.strip())
    shutil.rmtree(spool)
    return {"records": records, "seconds": dt, "records_per_s": records / dt,
            "mb_per_s": os.path.getsize(src) / dt / 1e6, "peak_rss_bytes": peak_kib * 1024}


def python_run(src, work):
    out = os.path.join(work, "py.out")
    err = os.path.join(work, "py.err")
    p = subprocess.run([PY, os.path.join(SHARED, "summary.py"), src, out, err], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench/batch: summary.py failed:\n" + p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def generate(mb, work):
    path = os.path.join(work, "users-%dmb.ndjson" % mb)
    if not os.path.exists(path):
        subprocess.run([PY, os.path.join(SHARED, "gen_users.py"), path, "--mb", str(mb)], check=True)
    return path


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    reclaimd = os.path.abspath(sys.argv[1])
    if not os.path.exists(os.path.join(SHARED, "gen_users.py")):
        sys.exit("bench/batch: needs %s (the shared benchmark data generator)" % SHARED)
    mb = arg("--mb", 200)
    work = tempfile.mkdtemp(prefix="reclaimd-bench-")
    try:
        src = generate(mb, work)
        rounds = max(1, arg("--rounds", 3))
        ro_runs, py_runs = [], []
        for _ in range(rounds):             # interleaved: a slow phase of the VM hits both
            ro_runs.append(reclaimd_run(reclaimd, src, work))
            py_runs.append(python_run(src, work))
        ro = max(ro_runs, key=lambda r: r["records_per_s"])
        py = max(py_runs, key=lambda r: r["records_per_s"])
        ro["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in ro_runs)
        py["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in py_runs)
        flat = None
        if "--flat" in sys.argv:
            small, large = generate(50, work), generate(500, work)
            flat = {"50": reclaimd_run(reclaimd, small, work), "500": reclaimd_run(reclaimd, large, work)}
        ratios = sorted(r["mb_per_s"] / p["mb_per_s"] for r, p in zip(ro_runs, py_runs))
        mid = len(ratios) // 2
        median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
        if "--json" in sys.argv:
            d = {k: ro[k] for k in ("records", "records_per_s", "mb_per_s", "peak_rss_bytes")}
            d.update({"py_" + k: py[k] for k in ("records", "records_per_s", "mb_per_s", "peak_rss_bytes")})
            d["ratio_per_round"] = [r["mb_per_s"] / p["mb_per_s"] for r, p in zip(ro_runs, py_runs)]
            d["ratio_median"] = median
            if flat:
                d["peak_rss_50mb_bytes"] = flat["50"]["peak_rss_bytes"]
                d["peak_rss_500mb_bytes"] = flat["500"]["peak_rss_bytes"]
            print(json.dumps(d))
            return 0
        print("bench/batch: summary job, %d MB, %d users, batches of 500, one worker, best of %d rounds\n" %
              (mb, ro["records"], rounds))
        print("%-22s %14s %14s %8s" % ("", "reclaimd", "summary.py", "ratio"))
        print("%-22s %14.0f %14.0f %7.1fx" % ("records/s", ro["records_per_s"], py["records_per_s"],
                                             ro["records_per_s"] / py["records_per_s"]))
        print("%-22s %14.1f %14.1f %7.1fx" % ("MB/s", ro["mb_per_s"], py["mb_per_s"], ro["mb_per_s"] / py["mb_per_s"]))
        print("%-22s %12.1fMiB %12.1fMiB %7.2fx" % ("peak RSS", ro["peak_rss_bytes"] / 2**20,
                                                  py["peak_rss_bytes"] / 2**20,
                                                  ro["peak_rss_bytes"] / py["peak_rss_bytes"]))
        print("\nround  reclaimd MB/s  summary.py MB/s  ratio")
        for i, (r, p) in enumerate(zip(ro_runs, py_runs), 1):
            print("%5d %14.1f %16.1f %6.1fx" % (i, r["mb_per_s"], p["mb_per_s"], r["mb_per_s"] / p["mb_per_s"]))
        print("median ratio of the rounds: %.1fx" % median)
        if flat:
            a, b = flat["50"]["peak_rss_bytes"], flat["500"]["peak_rss_bytes"]
            print("\npeak RSS, reclaimd: %.1f MiB on 50 MB, %.1f MiB on 500 MB (%+.0f%%)" %
                  (a / 2**20, b / 2**20, (b / a - 1) * 100))
        print("\n(ratio = reclaimd / summary.py for throughput; reclaimd / summary.py for RSS)")
        return 0
    finally:
        if "--keep" not in sys.argv:
            shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
