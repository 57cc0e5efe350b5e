#!/usr/bin/python3
"""Crash safety: kill -9 reclaimd at random moments, restart until done, compare with an uninterrupted run.

usage: crash_test.py RECLAIMD [--kills N] [--seed S]

The final out/, failed/ and done/ files must equal those of an uninterrupted
run byte for byte, nothing may be left in work/ or inbox/, and at least N kills
must have landed while the process was running. A second check runs two
processes on one spool at once: every input is processed exactly once.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RECLAIMD = os.path.abspath(sys.argv[1])
KILLS = int(sys.argv[sys.argv.index("--kills") + 1]) if "--kills" in sys.argv else 40
SEED = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 99


def make_input(r, users):
    lines = []
    for i in range(users):
        if r.random() < 0.01:
            lines.append(r.choice(['{"user_id": 1}', "not json", '{"user_id": "u", "events": [NaN]}']))
            continue
        evs = ", ".join('{"ts": %d, "type": "%s", "amount": %.2f, "tags": ["%s"]}'
                        % (r.randint(0, 10**9), r.choice("abc"), r.uniform(0, 100), r.choice("xyz"))
                        for _ in range(r.randint(0, 6)))
        lines.append('{"user_id": "u%06d", "events": [%s]}' % (i, evs))
    return ("\n".join(lines) + "\n").encode()


def new_spool(inputs, users_per_batch):
    d = tempfile.mkdtemp(prefix="reclaimd-crash-")
    os.makedirs(os.path.join(d, "spool", "inbox"))
    for name, data in inputs.items():
        with open(os.path.join(d, "spool", "inbox", name), "wb") as f:
            f.write(data)
    conf = os.path.join(d, "c.conf")
    with open(conf, "w") as f:
        f.write("[spool]\ndir = %s/spool\n[batch]\nusers = %d\n[log]\nlevel = warning\n" % (d, users_per_batch))
    return d, conf


def snapshot(spool):
    files = {}
    for sub in ("out", "failed", "done"):
        for name in sorted(os.listdir(os.path.join(spool, sub))):
            with open(os.path.join(spool, sub, name), "rb") as f:
                files[sub + "/" + name] = f.read()
    return files


def startup_seconds():
    """Start-up alone (an empty spool): a run must get past it to make progress.
    It is not negligible (the guard's cgroup v1 threshold registrations each
    wait for an RCU grace period, 10-20 ms apiece on some days here)."""
    empty_dir, empty_conf = new_spool({}, 40)
    t0 = time.monotonic()
    subprocess.run([RECLAIMD, "--once", "--config", empty_conf], check=True)
    shutil.rmtree(empty_dir)
    return time.monotonic() - t0


def kill_until_done(r, inputs, users_per_batch, kills_wanted, startup_s, share, label):
    """Kill runs at random moments of their start-up and the first `share` of
    the processing, restart until done; returns how many files differ from an
    uninterrupted run (and whether work/ or inbox/ kept anything)."""
    ref_dir, ref_conf = new_spool(inputs, users_per_batch)
    t0 = time.monotonic()
    subprocess.run([RECLAIMD, "--once", "--config", ref_conf], check=True)
    clean_s = time.monotonic() - t0
    want = snapshot(os.path.join(ref_dir, "spool"))
    window_s = startup_s + max(clean_s - startup_s, 0.01) * share
    d, conf = new_spool(inputs, users_per_batch)
    kills = runs = 0
    max_runs = 40 * kills_wanted
    while True:
        runs += 1
        if runs > max_runs:
            print("FAIL: %s: no end after %d runs and %d kills (start-up %.3fs, uninterrupted run %.3fs): "
                  "runs make no progress" % (label, runs - 1, kills, startup_s, clean_s))
            return 1
        p = subprocess.Popen([RECLAIMD, "--once", "--config", conf])
        time.sleep(r.uniform(0, window_s))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            continue
        if p.returncode != 0:
            print("FAIL: %s: run %d exited %d" % (label, runs, p.returncode))
            return 1
        if kills >= kills_wanted:
            break
        # Finished before enough kills: start over on a fresh copy (more kills wanted).
        got = snapshot(os.path.join(d, "spool"))
        if got != want:
            break
        shutil.rmtree(d)
        d, conf = new_spool(inputs, users_per_batch)
    sp = os.path.join(d, "spool")
    got = snapshot(sp)
    bad = 0
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            print("FAIL: %s: %s differs after %d kills (%s vs %s bytes)" % (label, k, kills, len(got.get(k, b"")),
                                                                         len(want.get(k, b""))))
            bad += 1
    left = os.listdir(os.path.join(sp, "work")) + os.listdir(os.path.join(sp, "inbox"))
    if left:
        print("FAIL: %s: left behind: %s" % (label, left))
        bad += 1
    print("crash, %s: %d kills over %d runs, start-up %.3fs, uninterrupted run %.2fs; outputs %s" %
          (label, kills, runs, startup_s, clean_s, "identical" if not bad else "DIFFER"))
    shutil.rmtree(ref_dir)
    shutil.rmtree(d)
    return bad


def main():
    r = random.Random(SEED)
    inputs = {"a.ndjson": make_input(r, 6000), "b.ndjson": make_input(r, 3000)}
    startup_s = startup_seconds()
    # Batches of 40: each run is killed in its start-up or the first eighth of
    # the processing, so kills land everywhere and every run that outlives its
    # start-up gets some batches done (commits overlap the next batch).
    bad = kill_until_done(r, inputs, 40, KILLS, startup_s, 1 / 8, "batches of 40")
    # One batch an input: a.ndjson's results (~1.5 MB) pass the size a batch's
    # text may reach in memory, so they reach the file early, a buffer at a
    # time, before the commit; kills anywhere in the run.
    bad += kill_until_done(r, inputs, 6000, max(KILLS // 4, 1), startup_s, 1.0, "batches of 6000")

    # Two processes on one spool: each input processed exactly once.
    many = {"m%02d.ndjson" % i: make_input(r, 300) for i in range(12)}
    ref2, conf2r = new_spool(many, 25)
    subprocess.run([RECLAIMD, "--once", "--config", conf2r], check=True)
    d2, conf2 = new_spool(many, 25)
    ps = [subprocess.Popen([RECLAIMD, "--once", "--config", conf2]) for _ in range(2)]
    codes = [p.wait() for p in ps]
    same = snapshot(os.path.join(d2, "spool")) == snapshot(os.path.join(ref2, "spool"))
    if codes != [0, 0] or not same or os.listdir(os.path.join(d2, "spool", "work")):
        print("FAIL: two processes on one spool: exit codes %s, outputs %s" % (codes, "same" if same else "differ"))
        bad += 1
    else:
        print("shared spool: 2 processes, 12 inputs, each processed once")
    for x in (ref2, d2):
        shutil.rmtree(x)
    print("%d passed, %d failed" % (2 - min(bad, 2), min(bad, 2)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
