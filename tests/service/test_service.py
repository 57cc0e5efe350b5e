#!/usr/bin/python3
"""The long-running service, end to end, with a real NOTIFY_SOCKET datagram socket.

usage: test_service.py RECLAIMD RECLAIMCTL

Starts `reclaimd --config FILE` in the foreground as systemd would (Type=notify,
NOTIFY_SOCKET and WATCHDOG_USEC set), and checks: READY=1, STATUS=, WATCHDOG=1;
inputs dropped while it runs are processed (compared with the reference
implementation of the summary job); inotify wakes it without waiting for the
rescan; SIGHUP with a changed configuration (RELOADING=1, then READY=1, new
batch size in effect) and with a broken one (logged, old configuration kept,
still processing); SIGTERM in the middle of a large input (STOPPING=1, exit 0
within the drain timeout, input resumable) and a restart that finishes it with
results identical to an uninterrupted run. reclaimctl over the control socket:
status, stats, gc (honoured by every worker), pause, resume, reload, and an
unknown command.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RECLAIMD = os.path.abspath(sys.argv[1])
RECLAIMCTL = os.path.abspath(sys.argv[2])
REF = os.path.join(HERE, "..", "batch", "summary_ref.py")
results = {"passed": 0, "failed": 0}


class Notify:
    """A NOTIFY_SOCKET receiver, as systemd's."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []
        self.lock = threading.Lock()
        self.done = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.done:
            try:
                m = self.sock.recv(4096).decode()
                with self.lock:
                    self.msgs.extend(m.split("\n"))
            except socket.timeout:
                pass

    def seen(self):
        with self.lock:
            return list(self.msgs)

    def wait_for(self, msg, after=0, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            msgs = self.seen()
            if msg in msgs[after:]:
                return msgs[after:].index(msg) + after
            time.sleep(0.02)
        raise AssertionError("no %r from the daemon within %ss (got %r)" % (msg, timeout, self.seen()[after:][-8:]))

    def close(self):
        self.done = True
        self.t.join()
        self.sock.close()


def users(n, tag):
    return "".join('{"user_id": "%s%06d", "events": [{"ts": %d, "type": "v", "amount": %d.5, "tags": ["a", "b"]}]}\n'
                   % (tag, i, i, i % 100) for i in range(n)).encode()


def drop(spool, name, data):
    tmp = os.path.join(spool, "inbox", "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(spool, "inbox", name))


def wait_file(path, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise AssertionError("%s did not appear within %ss" % (path, timeout))


def reference(d, data, name):
    src, out, bad = (os.path.join(d, name + x) for x in (".in", ".ref", ".bad"))
    open(src, "wb").write(data)
    subprocess.run(["/usr/bin/python3", REF, src, out, bad], check=True)
    return open(out, "rb").read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORT = free_port()


def write_conf(path, spool, extra=""):
    with open(path, "w") as f:
        f.write("[spool]\ndir = %s\nrescan_interval = 60s\n[batch]\nworkers = 2\nusers = 100\n"
                "drain_timeout = 20s\n%s[metrics]\nlisten = 127.0.0.1:%d\n[control]\nsocket = %s\n"
                "[log]\ntarget = stderr\n" % (spool, extra, PORT, ctl_path(spool)))


def ctl_path(spool):
    return os.path.join(os.path.dirname(spool), "ctl.sock")


def ctl(spool, *args):
    return subprocess.run([RECLAIMCTL, "--socket", ctl_path(spool), *args], capture_output=True, text=True,
                          timeout=20)


def scrape():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % PORT, timeout=5) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


class Daemon:
    def __init__(self, d, conf):
        self.notify = Notify(os.path.join(d, "notify-%d.sock" % time.monotonic_ns()))
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.sock.getsockname(), WATCHDOG_USEC="300000")
        env.pop("WATCHDOG_PID", None)
        self.log = open(os.path.join(d, "daemon.log"), "a+")
        self.p = subprocess.Popen([RECLAIMD, "--config", conf, "--foreground"], env=env, stderr=self.log)

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        code = self.p.wait(timeout=timeout)
        self.notify.close()
        return code


class Scratch:
    """A temporary directory with an empty spool and a configuration; removed when the
    test passes (kept on failure: the report prints its daemon log)."""

    def __init__(self):
        self.d = tempfile.mkdtemp(prefix="reclaimd-svc-")
        self.spool = os.path.join(self.d, "spool")
        os.makedirs(self.spool)
        self.conf = os.path.join(self.d, "reclaimd.conf")
        write_conf(self.conf, self.spool)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            shutil.rmtree(self.d)
        return False


class Running:
    """A daemon for a with-block; killed if the block leaves it running."""

    def __init__(self, scratch):
        self.dm = Daemon(scratch.d, scratch.conf)

    def __enter__(self):
        return self.dm

    def __exit__(self, *exc):
        if self.dm.p.poll() is None:
            self.dm.p.kill()
            self.dm.p.wait()
        return False


def check(name, fn):
    try:
        fn()
        results["passed"] += 1
        print("ok   ", name)
    except Exception as e:
        results["failed"] += 1
        print("FAIL ", name, "-", e)
        for log in sorted(os.popen("ls -t /tmp/reclaimd-svc-*/daemon.log 2>/dev/null").read().split())[:1]:
            print("  daemon log (last lines):\n    " + "\n    ".join(open(log).read().splitlines()[-8:]))


def t_notify_inputs_reload_and_stop():
    with Scratch() as sc, Running(sc) as dm:
        d, spool, conf = sc.d, sc.spool, sc.conf
        n = dm.notify
        ready = n.wait_for("READY=1")
        assert any(m.startswith("STATUS=") for m in n.seen()), n.seen()
        time.sleep(0.8)
        assert n.seen().count("WATCHDOG=1") >= 3, "expected WATCHDOG=1 every 150 ms: %r" % n.seen()
        # Inputs dropped while running; rescan is 60 s, so only inotify can wake it in time.
        before = scrape()
        assert before['reclaimd_records_total{result="ok"}'] == 0
        assert before['reclaimd_build_info{version="0.1.0"}'] == 1
        data = {"a.ndjson": users(700, "a"), "b.ndjson": users(300, "b"),
                "c.ndjson": users(50, "c") + b"not json\n"}
        t0 = time.time()
        for name, blob in data.items():
            drop(spool, name, blob)
        for name in data:
            wait_file(os.path.join(spool, "out", name), timeout=10)
        assert time.time() - t0 < 10
        for name, blob in data.items():
            got = open(os.path.join(spool, "out", name), "rb").read()
            assert got == reference(d, blob, name), "%s differs from the reference implementation" % name
        time.sleep(0.3)
        m = scrape()
        want = {'reclaimd_records_total{result="ok"}': 1050, 'reclaimd_records_total{result="bad"}': 1,
                'reclaimd_inputs_total{result="done"}': 3, 'reclaimd_inputs_total{result="failed"}': 0,
                "reclaimd_batches_total": 11, 'reclaimd_batch_duration_seconds_bucket{le="+Inf"}': 11,
                "reclaimd_batch_duration_seconds_count": 11, "reclaimd_queue_depth": 0,
                "reclaimd_inputs_in_progress": 0}
        for k, v in want.items():
            assert m.get(k) == v, "%s = %s, want %s" % (k, m.get(k), v)
        assert m["reclaimd_rss_bytes"] > 1e6 and m["reclaimd_open_fds"] > 3 and m["reclaimd_fd_limit"] >= 64
        for w in ("0", "1"):
            assert 'reclaimd_runtime_heap_bytes{worker="%s"}' % w in m
            assert 'reclaimd_gc_collections_total{worker="%s",generation="0"}' % w in m
        assert sum(v for k, v in m.items() if k.startswith("reclaimd_gc_collections_total")) >= 11
        # The guard's figures: it sampled, knows the budget and this process's descriptors.
        assert m["reclaimd_guard_enabled"] == 1 and m["reclaimd_guard_evaluations_total"] >= 1
        assert m["reclaimd_guard_sample_failures_total"] == 0
        assert m["reclaimd_guard_budget_bytes"] > 0 and 0 <= m["reclaimd_guard_pressure_ratio"] < 1
        assert m["reclaimd_guard_fd_limit"] == m["reclaimd_fd_limit"] and m["reclaimd_guard_open_fds"] > 3
        assert 'reclaimd_guard_actions_total{action="collect"}' in m
        assert any("; guard " in x for x in n.seen() if x.startswith("STATUS=")), n.seen()
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/other" % PORT, timeout=5)
            raise AssertionError("/other must be 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404
        # SIGHUP with a changed configuration.
        text = open(conf).read().replace("users = 100", "users = 7")
        open(conf, "w").write(text)
        mark = len(n.seen())
        dm.p.send_signal(signal.SIGHUP)
        r = n.wait_for("RELOADING=1", mark)
        n.wait_for("READY=1", r)
        time.sleep(0.2)
        assert "reloaded %s: users=7" % conf in dm.logtext(), dm.logtext()[-500:]
        drop(spool, "d.ndjson", users(70, "d"))
        wait_file(os.path.join(spool, "out", "d.ndjson"))
        time.sleep(0.2)
        assert "input=d.ndjson finished records=70 good=70 bad=0 batches=10" in dm.logtext(), dm.logtext()[-800:]
        # SIGHUP with a broken configuration: logged, the old one stays.
        open(conf, "a").write("[batch]\nusers = lots\n")
        mark = len(n.seen())
        dm.p.send_signal(signal.SIGHUP)
        r = n.wait_for("RELOADING=1", mark)
        n.wait_for("READY=1", r)
        time.sleep(0.2)
        log = dm.logtext()
        assert "[batch] users: 'lots' is not valid" in log and "keeping the previous configuration" in log, log[-800:]
        drop(spool, "e.ndjson", users(14, "e"))
        wait_file(os.path.join(spool, "out", "e.ndjson"))
        time.sleep(0.2)
        assert "input=e.ndjson finished records=14 good=14 bad=0 batches=2" in dm.logtext()
        assert dm.p.poll() is None, "the daemon must still run"
        mark = len(n.seen())
        code = dm.stop()
        assert code == 0, code
        assert "STOPPING=1" in n.seen()[mark:], n.seen()[mark:]
        assert os.listdir(os.path.join(spool, "work")) == []


def t_sigterm_mid_input_then_restart():
    with Scratch() as sc:
        d, spool, conf = sc.d, sc.spool, sc.conf
        text = open(conf).read().replace("users = 100", "users = 50")
        open(conf, "w").write(text)
        big = users(60000, "z")
        want = reference(d, big, "big.ndjson")
        with Running(sc) as dm:
            dm.notify.wait_for("READY=1")
            drop(spool, "big.ndjson", big)
            wait_file(os.path.join(spool, "work", "big.ndjson.ckpt"))   # at least one batch committed
            t0 = time.time()
            code = dm.stop()
            assert code == 0 and time.time() - t0 < 20, (code, time.time() - t0)
            assert "STOPPING=1" in dm.notify.seen()
            assert os.path.exists(os.path.join(spool, "work", "big.ndjson")), "stopped mid-input: must resume"
            assert not os.path.exists(os.path.join(spool, "out", "big.ndjson"))
        with Running(sc) as dm:               # the restart systemd would do
            dm.notify.wait_for("READY=1")
            wait_file(os.path.join(spool, "out", "big.ndjson"), timeout=60)
            assert open(os.path.join(spool, "out", "big.ndjson"), "rb").read() == want
            assert "input=big.ndjson resumed" in dm.logtext()
            assert dm.stop() == 0
            assert os.listdir(os.path.join(spool, "work")) == []


def t_control_socket():
    with Scratch() as sc, Running(sc) as dm:
        d, spool, conf = sc.d, sc.spool, sc.conf
        dm.notify.wait_for("READY=1")
        p = ctl(spool, "--json", "status")
        st = json.loads(p.stdout)
        assert p.returncode == 0 and st["state"] == "running" and st["workers"] == 2, p
        assert st["guard"] == "on" and st["guard_level"] == "ok" and st["open_fds"] > 3, st
        assert 0 <= st["memory_pressure"] < 1 and st["intake_paused_by_guard"] is False, st
        p = ctl(spool, "status")
        assert "state: running" in p.stdout and "workers: 2" in p.stdout, p.stdout
        # pause: nothing new is claimed
        assert json.loads(ctl(spool, "--json", "pause").stdout)["state"] == "paused"
        drop(spool, "p.ndjson", users(20, "p"))
        time.sleep(1.5)
        assert os.path.exists(os.path.join(spool, "inbox", "p.ndjson")), "claimed while paused"
        assert json.loads(ctl(spool, "--json", "status").stdout)["state"] == "paused"
        assert json.loads(ctl(spool, "--json", "resume").stdout)["state"] == "running"
        wait_file(os.path.join(spool, "out", "p.ndjson"))
        # gc: every worker collects at its next safe point
        p = ctl(spool, "--json", "gc")
        assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True, p
        end = time.time() + 5
        while time.time() < end and dm.logtext().count("gc worker=") < 2:
            time.sleep(0.05)
        assert "gc worker=0 collected=" in dm.logtext() and "gc worker=1 collected=" in dm.logtext(), dm.logtext()
        stats = json.loads(ctl(spool, "--json", "stats").stdout)
        assert [w["worker"] for w in stats["workers"]] == [0, 1]
        assert all(w["gc_collections"][2] >= 1 for w in stats["workers"]), stats
        assert "workers[1]: worker=1" in ctl(spool, "stats").stdout
        mark = len(dm.notify.seen())
        p = ctl(spool, "--json", "reload")
        assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True, p
        dm.notify.wait_for("READY=1", dm.notify.wait_for("RELOADING=1", mark))
        p = ctl(spool, "frobnicate")
        assert p.returncode == 1 and "unknown command 'frobnicate'" in p.stdout, p
        assert dm.stop() == 0
        assert not os.path.exists(ctl_path(spool)), "the socket is removed at exit"
        p = ctl(spool, "status")
        assert p.returncode == 2 and "cannot reach reclaimd" in p.stderr, p


def t_demo_runs_the_service_and_stops_by_itself():
    d = tempfile.mkdtemp(prefix="reclaimd-svc-")
    demo = os.path.join(d, "demo")
    p = subprocess.run([RECLAIMD, "--demo", demo], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "metrics at http://127.0.0.1:" in p.stdout and "reclaimctl --socket" in p.stdout, p.stdout
    assert sorted(os.listdir(os.path.join(demo, "out"))) == ["users-a.ndjson", "users-b.ndjson", "users-c.ndjson"]
    assert "stopping (demo finished)" in p.stderr and "records_ok=5197 records_bad=3" in p.stderr, p.stderr
    assert len(open(os.path.join(demo, "failed", "users-b.errors.ndjson")).readlines()) == 3
    shutil.rmtree(d)


for name, fn in list(globals().items()):
    if name.startswith("t_"):
        check(name[2:], fn)
print("%d passed, %d failed" % (results["passed"], results["failed"]))
sys.exit(1 if results["failed"] else 0)
