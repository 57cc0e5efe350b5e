#!/usr/bin/python3
"""The leak guard end to end: the real daemon, a real memory cgroup, a real RLIMIT_NOFILE.

usage: test_guard.py RECLAIMD LEAKY_JOB_SO [TEST...]

Each test runs `reclaimd --once` on a spool with the leaky job and compares
every output with a clean run of the built-in summary job (itself checked
against tests/batch/summary_ref.py by the batch tests). The memory tests put
the daemon in a child memory cgroup (cgroup v1 or v2) with a 128 MiB limit and
read the cgroup's own OOM-kill counter; where the machine does not allow a
child cgroup they print why and are skipped (exit code 77 when all are).
"""
import contextlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types

RECLAIMD = os.path.abspath(sys.argv[1])
LEAKY = os.path.abspath(sys.argv[2])
ONLY = sys.argv[3:]
LIMIT = 128 << 20
SKIP = 77

# ------------------------------------------------------------------ data


def make_users(path, n, seed, events=(1, 3)):
    r = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            ev = []
            ts = r.randint(1_700_000_000, 1_760_000_000)
            for _ in range(r.randint(*events)):
                ts += r.randint(1, 3600)
                e = {"ts": ts, "type": r.choice(["click", "view", "buy"])}
                if r.random() < 0.7:
                    e["amount"] = round(r.uniform(0, 500), 2)
                if r.random() < 0.5:
                    e["tags"] = r.sample(["eu", "us", "promo", "new"], r.randint(1, 2))
                ev.append(e)
            f.write(json.dumps({"user_id": "u%d-%07d" % (seed, i), "events": ev}) + "\n")


def spool(inputs, conf_extra):
    """A fresh spool holding copies of inputs (name -> path) and its config."""
    d = tempfile.mkdtemp(prefix="reclaimd-guard-")
    os.makedirs(os.path.join(d, "s", "inbox"))
    for name, src in inputs.items():
        shutil.copy(src, os.path.join(d, "s", "inbox", name))
    conf = os.path.join(d, "reclaimd.conf")
    with open(conf, "w") as f:
        f.write("[spool]\ndir = %s\n[log]\ntarget = stderr\nlevel = notice\n%s" % (os.path.join(d, "s"), conf_extra))
    return d, conf


def outputs(d):
    out = os.path.join(d, "s", "out")
    return {n: open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))}


_reference = {}


def reference(inputs):
    """Outputs of a clean run (built-in summary job, guard off)."""
    key = tuple(sorted(inputs.items()))
    if key not in _reference:
        d, conf = spool(inputs, "[guard]\nenabled = off\n")
        p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        _reference[key] = outputs(d)
        assert len(_reference[key]) == len(inputs)
        shutil.rmtree(d)
    return _reference[key]


def leaky_conf(guard, users=500, workers=1, **job):
    text = "[batch]\njob = %s\nusers = %d\nworkers = %d\n[guard]\nenabled = %s\n[job]\n" % (
        LEAKY, users, workers, "on" if guard else "off")
    return text + "".join("%s = %s\n" % kv for kv in job.items())


# --------------------------------------------------------------- cgroups


class Cgroup:
    """A child memory cgroup of ours with a limit (v1 memory controller or v2)."""

    def __init__(self, limit):
        self.path = None
        own = open("/proc/self/cgroup").read().splitlines()
        v1 = [l.split(":", 2)[2] for l in own if l.split(":")[1].split(",").count("memory")]
        if v1 and os.path.isdir("/sys/fs/cgroup/memory"):
            base, self.v = "/sys/fs/cgroup/memory" + v1[0], 1
        elif os.path.exists("/sys/fs/cgroup/cgroup.controllers") and "memory" in open(
                "/sys/fs/cgroup/cgroup.controllers").read():
            base, self.v = "/sys/fs/cgroup" + [l for l in own if l.startswith("0::")][0][3:], 2
        else:
            raise OSError("no memory cgroup controller is mounted")
        self.path = os.path.join(base.rstrip("/"), "reclaimd-test-%d-%d" % (os.getpid(), time.monotonic_ns()))
        os.mkdir(self.path)
        self.write("memory.limit_in_bytes" if self.v == 1 else "memory.max", str(limit))
        if self.v == 1:
            try:
                self.write("memory.memsw.limit_in_bytes", str(limit))
            except OSError:
                pass            # no swap accounting: without swap it does not matter

    def write(self, name, text):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(text)

    def working_set(self):
        """Usage less inactive file cache, as the guard computes it (v1: memory.stat)."""
        if self.v == 1:
            usage = int(open(os.path.join(self.path, "memory.usage_in_bytes")).read())
            key = "total_inactive_file"
        else:
            usage = int(open(os.path.join(self.path, "memory.current")).read())
            key = "inactive_file"
        for line in open(os.path.join(self.path, "memory.stat")):
            k, _, v = line.partition(" ")
            if k == key:
                return usage - int(v)
        return usage

    def oom_kills(self):
        name = "memory.oom_control" if self.v == 1 else "memory.events"
        for line in open(os.path.join(self.path, name)):
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        return 0

    def enter(self):
        """For preexec_fn: move the child into the cgroup before exec."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    def close(self):
        if self.path:
            for _ in range(50):
                try:
                    os.rmdir(self.path)
                    return
                except OSError:
                    time.sleep(0.1)


def cgroup_or_skip():
    if os.environ.get("RECLAIMD_SANITIZE"):
        raise Skip("built with -fsanitize=%s: AddressSanitizer's shadow memory and quarantine of freed blocks "
                   "hold memory no collection gives back, so a 128 MiB budget measures the sanitizer; the plain "
                   "build runs this test" % os.environ["RECLAIMD_SANITIZE"])
    try:
        return Cgroup(LIMIT)
    except OSError as e:
        raise Skip("cannot make a child memory cgroup with a limit here (%s)" % e)


class Skip(Exception):
    pass


def run_in(cg, conf, timeout=600):
    return subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True,
                          preexec_fn=cg.enter, timeout=timeout)


# ------------------------------------------------------------------ tests

_data = {}


def dataset(tag, files, users, events=(1, 3)):
    if tag not in _data:
        d = tempfile.mkdtemp(prefix="reclaimd-guard-data-")
        _data[tag] = {}
        for i in range(files):
            p = os.path.join(d, "users-%02d.ndjson" % i)
            make_users(p, users, seed=1000 * len(_data) + i, events=events)
            _data[tag]["users-%02d.ndjson" % i] = p
    return _data[tag]


def t_cycles_in_a_128mib_cgroup():
    """Leaked cycles adding up to several times the limit, automatic collection
    off: the guard's collections keep the daemon alive; without it the kernel
    OOM-kills it (the test proves its own teeth)."""
    inputs = dataset("cycles", 4, 25000)
    want = reference(inputs)
    job = dict(cycle_bytes_per_user=8192, gc_auto="off")       # 100k users x 8 KiB = 800 MB of cycles
    cg = cgroup_or_skip()
    try:
        d, conf = spool(inputs, leaky_conf(True, **job))
        before = cg.oom_kills()
        p = run_in(cg, conf)
        assert p.returncode == 0, (p.returncode, p.stderr[-3000:])
        assert cg.oom_kills() == before, "OOM kill with the guard on: %s" % p.stderr[-3000:]
        assert outputs(d) == want, "outputs differ from the clean run"
        collects = p.stderr.count("guard collect worker=")
        assert collects > 0, p.stderr[-2000:]
        if cg.v == 1:
            # registered by a thread of its own while the workers start (events_v1)
            assert "cgroup v1 usage thresholds on (3 of 3), memory.pressure_level on" in p.stderr, \
                [l for l in p.stderr.splitlines() if "guard on" in l or "kernel events" in l]
        print("  guard on: %d collections, 0 OOM kills, %d outputs identical" % (collects, len(want)))
        shutil.rmtree(d)

        d, conf = spool(inputs, leaky_conf(False, **job))
        p = run_in(cg, conf)
        assert p.returncode == -9, "guard off: expected an OOM kill (SIGKILL), got %d" % p.returncode
        assert cg.oom_kills() > before, "guard off: the cgroup counted no OOM kill"
        print("  guard off: SIGKILL, cgroup oom_kill %d -> %d" % (before, cg.oom_kills()))
        shutil.rmtree(d)
    finally:
        cg.close()


def limit_fds(n):
    def f():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return f


def t_leaked_files_under_ulimit_128():
    """Files the job never closes, RLIMIT_NOFILE 128: the guard force-closes the
    files of finished batches; without it the daemon hits EMFILE."""
    inputs = dataset("files", 3, 2000)
    want = reference(inputs)
    job = dict(files_per_user=1)
    d, conf = spool(inputs, leaky_conf(True, users=16, **job))
    p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True,
                       preexec_fn=limit_fds(128), timeout=600)
    assert p.returncode == 0, (p.returncode, p.stderr[-3000:])
    assert "Too many open files" not in p.stderr, p.stderr[-3000:]
    assert outputs(d) == want, "outputs differ from the clean run"
    closed = p.stderr.count("force-closed")
    assert closed > 0, p.stderr[-2000:]
    print("  guard on: all %d inputs done, no EMFILE, %d collect/close rounds" % (len(want), closed))
    shutil.rmtree(d)

    d, conf = spool(inputs, leaky_conf(False, users=16, **job))
    p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True,
                       preexec_fn=limit_fds(128), timeout=600)
    assert p.returncode == 4 and "Too many open files" in p.stderr, (p.returncode, p.stderr[-2000:])
    print("  guard off: exit 4, EMFILE (%s)" % [l for l in p.stderr.splitlines() if "Too many" in l][0][:100])
    shutil.rmtree(d)


def t_leaked_references_restart_before_the_oom_killer():
    """References that are never dropped: no collection frees them. The guard
    aborts, then exits with code 6 before the OOM killer comes; restarted as
    systemd would, the daemon resumes and every output matches a clean run."""
    inputs = dataset("refs", 2, 25000)
    want = reference(inputs)
    cg = cgroup_or_skip()
    try:
        d, conf = spool(inputs, leaky_conf(True, leaked_refs_per_user=4096))   # ~200 MB in all
        before = cg.oom_kills()
        codes = []
        for _ in range(30):
            p = run_in(cg, conf)
            codes.append(p.returncode)
            if p.returncode != 6:
                break
        assert codes[-1] == 0, (codes, p.stderr[-3000:])
        assert 6 in codes, "expected at least one restart (exit 6): %s" % codes
        assert cg.oom_kills() == before, "OOM kill with the guard on"
        assert outputs(d) == want, "outputs differ from the clean run"
        assert os.listdir(os.path.join(d, "s", "work")) == []
        print("  exit codes %s, 0 OOM kills, outputs identical" % codes)
        shutil.rmtree(d)
    finally:
        cg.close()


def t_acts_inside_one_long_batch():
    """One input of 100k users read as a single batch: the guard collects at the
    safe points inside the batch and shrinks it, instead of waiting for its end."""
    inputs = dataset("long", 1, 100000)
    want = reference(inputs)
    cg = cgroup_or_skip()
    try:
        d, conf = spool(inputs, leaky_conf(True, users=100000, cycle_bytes_per_user=2048, gc_auto="off"))
        before = cg.oom_kills()
        p = run_in(cg, conf)
        assert p.returncode == 0, (p.returncode, p.stderr[-3000:])
        assert cg.oom_kills() == before, ("OOM kills %d -> %d" % (before, cg.oom_kills()), p.stderr[-3000:])
        got = outputs(d)
        assert got == want, ("outputs differ: %s" % sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k)),
                             p.stderr[-3000:])
        inside = [l for l in p.stderr.splitlines() if "guard collect worker=" in l]
        shrunk = [l for l in p.stderr.splitlines() if "guard hard: batch size" in l]
        assert inside, p.stderr[-2000:]
        print("  %d collections and %d batch shrinks during one input, 0 OOM kills, output identical"
              % (len(inside), len(shrunk)))
        shutil.rmtree(d)
    finally:
        cg.close()


class Hog:
    """A process of the cgroup that holds n bytes, touched, resized on request."""
    CODE = ("import sys\nb = None\nfor line in sys.stdin:\n    b = None\n    b = bytearray(int(line))\n"
            "    for i in range(0, len(b), 4096): b[i] = 1\n    print('ok', flush=True)\n")

    def __init__(self, cg, n):
        self.p = subprocess.Popen(["/usr/bin/python3", "-c", self.CODE], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, preexec_fn=cg.enter)
        self.hold(n)

    def hold(self, n):
        self.p.stdin.write("%d\n" % n)
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "ok"

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def run_until_held_outside(cg, conf):
    """reclaimd --once in cg, its log read until the guard says the memory is
    held outside the process. Returns the process and the lines read."""
    p = subprocess.Popen([RECLAIMD, "--once", "--config", conf], stderr=subprocess.PIPE, text=True,
                         preexec_fn=cg.enter)
    log = []
    t0 = time.monotonic()
    for line in p.stderr:
        log.append(line)
        if "held outside this process" in line or time.monotonic() - t0 > 60:
            break
    assert any("held outside this process" in l for l in log), "".join(log)[-3000:]
    return p, log


@contextlib.contextmanager
def held_outside():
    """The two tests of memory another process holds: a hog takes 116 MiB of
    the cgroup, reclaimd --once starts on 20k users and runs until the guard
    says the memory is held outside. Yields what the test needs; the hog and
    the cgroup go at the end."""
    inputs = dataset("others", 1, 20000)
    want = reference(inputs)
    cg = cgroup_or_skip()
    hog = None
    try:
        hog = Hog(cg, 116 << 20)
        d, conf = spool(inputs, leaky_conf(True))
        before = cg.oom_kills()
        p, log = run_until_held_outside(cg, conf)
        yield types.SimpleNamespace(want=want, cg=cg, hog=hog, d=d, before=before, p=p, log=log)
    finally:
        if hog is not None:
            hog.stop()
        cg.close()


def t_memory_held_by_others_pauses_without_restart():
    """Another process of the cgroup holds most of the limit: the guard pauses
    intake and says the memory is held outside (a restart would not help)
    instead of exiting; once the other process ends, the input completes."""
    with held_outside() as r:
        r.hog.stop()
        _, rest = r.p.communicate(timeout=300)
        r.log.append(rest)
        text = "".join(r.log)
        assert r.p.returncode == 0, (r.p.returncode, text[-3000:])
        assert "exiting with code 6" not in text and r.cg.oom_kills() == r.before, text[-3000:]
        assert outputs(r.d) == r.want
        print("  paused while another process held the cgroup; no restart, 0 OOM kills; done once it left")
        shutil.rmtree(r.d)


def t_pause_lifts_when_nothing_is_in_flight():
    """Another process pushes the cgroup to hard (intake paused, nothing in
    flight), then shrinks to a working set between soft minus the hysteresis
    and soft, and stays: the level is ok, no batch holds the memory, so the
    guard resumes intake (before, it waited for a calm that never came and a
    --once run never ended)."""
    with held_outside() as r:
        # Into the band: 67.5% of the limit in all, the daemon's share measured.
        target, held, seen = int(LIMIT * 0.675), 116 << 20, []
        for _ in range(3):
            held = max(held + target - r.cg.working_set(), 1 << 20)
            r.hog.hold(held)
            time.sleep(0.3)
            seen.append(r.cg.working_set() / LIMIT)
        # Never below soft minus the hysteresis (65%), where the old rule
        # would have resumed too: the band is what this test is about.
        assert min(seen) >= 0.65 and min(seen) < 0.70, seen
        ws = min(seen)
        try:
            _, rest = r.p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            r.p.kill()
            _, rest = r.p.communicate()
            raise AssertionError("still paused 120 s later at a working set of %.1f%%" % (ws * 100))
        r.log.append(rest)
        text = "".join(r.log)
        assert r.p.returncode == 0, (r.p.returncode, text[-3000:])
        assert "intake resumed" in text and r.cg.oom_kills() == r.before, text[-3000:]
        assert outputs(r.d) == r.want
        print("  paused at hard; at %.1f%% with nothing in flight intake resumed and the input completed" % (ws * 100))
        shutil.rmtree(r.d)


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("t_") and (not ONLY or n in ONLY)]
    failed = skipped = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
            print("ok    %s (%.1fs)" % (name[2:], time.monotonic() - t0))
        except Skip as e:
            skipped += 1
            print("SKIP  %s: %s" % (name[2:], e))
        except Exception as e:
            failed += 1
            print("FAIL  %s: %r" % (name[2:], e))
        sys.stdout.flush()
    for d in _data.values():
        shutil.rmtree(os.path.dirname(next(iter(d.values()))), ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (len(tests) - failed - skipped, failed, skipped))
    sys.exit(1 if failed else SKIP if skipped == len(tests) else 0)


if __name__ == "__main__":
    main()
