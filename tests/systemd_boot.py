#!/usr/bin/python3
"""The Debian package under a real systemd: systemctl start, reload and stop, is-active, the journal.

usage: systemd_boot.py DEB_DIR

PID 1 of the test machine need not be systemd: this boots one as PID 1 of a
systemd-nspawn container on a minimal Debian 12 root made with debootstrap
(cached in /var/cache/reclaimd-test/, rebuilt when the package's dependencies
change; the mirror is the one in this machine's own apt configuration),
installs the reclaimd .deb that the debian_package test left in DEB_DIR with
dpkg -i inside it, and then checks, through nsenter: the unit is enabled and
starts (active, with its STATUS= text), an input dropped into the spool is
processed by the service running as the reclaimd user, `systemctl reload`
keeps it active and the journal says the configuration was reloaded,
`systemctl stop` makes it inactive after a drain. Skipped (exit 77, reason
printed) when not root or when debootstrap, systemd-nspawn or the mirror is
unavailable.
"""
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

from checks import check, finish

SKIP = 77
deb_dir = os.path.abspath(sys.argv[1])
CACHE = "/var/cache/reclaimd-test"


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def mirror():
    for f in glob.glob("/etc/apt/sources.list.d/*.sources"):
        for line in open(f):
            m = re.match(r"URIs:\s*(\S+/debian)\s*$", line)
            if m:
                return m.group(1)
    if os.path.exists("/etc/apt/sources.list"):
        for line in open("/etc/apt/sources.list"):
            m = re.match(r"deb\s+(\S+/debian)\s+\S+", line)
            if m:
                return m.group(1)
    return None


def unmount_under(path):
    """A failed debootstrap can leave /proc and others mounted inside its root."""
    mounts = [l.split()[1] for l in open("/proc/mounts")]
    for m in sorted((m for m in mounts if m == path or m.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def remove_root(path):
    unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


def make_root(deb):
    depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True,
                             check=True).stdout
    # The first of each group of alternatives ("systemd | systemd-sysusers").
    pkgs = sorted({p.split("|")[0].strip().split()[0] for p in depends.split(",") if p.strip()})
    include = ["systemd", "systemd-sysv", "dbus", "procps"] + [p for p in pkgs if not p.startswith("$")]
    key = hashlib.sha256(" ".join(include).encode()).hexdigest()[:12]
    root = os.path.join(CACHE, "bookworm-" + key)
    os.makedirs(CACHE, exist_ok=True)
    lock = open(os.path.join(CACHE, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)          # one debootstrap at a time (parallel test runs)
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    url = mirror()
    if url is None:
        skip("no Debian mirror in this machine's apt configuration")
    remove_root(root)
    t0 = time.monotonic()
    p = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(include), "bookworm", root, url],
                       capture_output=True, text=True)
    if p.returncode != 0:
        remove_root(root)
        skip("debootstrap failed (%s): %s" % (url, p.stdout[-500:] + p.stderr[-500:]))
    open(os.path.join(root, ".complete"), "w").close()
    print("note: debootstrap made %s in %.0f s" % (root, time.monotonic() - t0))
    return root


class Container:
    def __init__(self, root):
        self.root = root
        self.cg = None
        own = [l.split(":", 2) for l in open("/proc/self/cgroup").read().splitlines()]
        sd = [p for _, c, p in own if c == "name=systemd"]
        if sd and os.path.isdir("/sys/fs/cgroup/systemd"):
            self.cg = "/sys/fs/cgroup/systemd%s/reclaimd-nspawn-%d" % (sd[0].rstrip("/"), os.getpid())
            os.mkdir(self.cg)
        self.proc = subprocess.Popen(["systemd-nspawn", "-D", root, "--boot", "--register=no", "--keep-unit",
                                      "-M", "reclaimdtest"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=self._enter)
        self.pid = None
        for _ in range(200):
            for d in os.listdir("/proc"):
                if d.isdigit():
                    try:
                        st = open("/proc/%s/stat" % d).read()
                    except OSError:
                        continue
                    comm = st[st.index("(") + 1:st.rindex(")")]
                    ppid = int(st[st.rindex(")") + 2:].split()[1])
                    if ppid == self.proc.pid and comm == "systemd":
                        self.pid = int(d)
            if self.pid or self.proc.poll() is not None:
                break
            time.sleep(0.05)

    def _enter(self):
        if self.cg:
            open(os.path.join(self.cg, "cgroup.procs"), "w").write(str(os.getpid()))

    def run(self, *cmd, timeout=60):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-a", *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def close(self):
        if self.pid:
            self.run("systemctl", "poweroff")
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.cg:   # nspawn leaves payload/supervisor cgroups behind: remove them, deepest first
            for d, _, _ in sorted(os.walk(self.cg), key=lambda t: -t[0].count("/")):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


def main():
    if os.geteuid() != 0:
        skip("needs root (debootstrap, systemd-nspawn)")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            skip("%s is not installed (packages debootstrap, systemd-container)" % tool)
    debs = glob.glob(os.path.join(deb_dir, "reclaimd_*.deb"))
    if len(debs) != 1:
        print("FAIL  expected the .deb the debian_package test leaves in %s, found %s" % (deb_dir, debs))
        sys.exit(1)
    deb = debs[0]
    root = make_root(deb)
    # A fresh copy of the cached root each time: the package is installed into it.
    work = root + ".run-%d" % os.getpid()
    subprocess.run(["cp", "-a", root, work], check=True)
    c = None
    try:
        shutil.copy(deb, os.path.join(work, "tmp", "reclaimd.deb"))
        p = subprocess.run(["chroot", work, "dpkg", "-i", "/tmp/reclaimd.deb"], capture_output=True, text=True)
        check(p.returncode == 0, "dpkg -i reclaimd.deb in the Debian 12 root", p.stdout[-1500:] + p.stderr[-1500:])
        c = Container(work)
        if c.pid is None:
            skip("systemd-nspawn did not boot a systemd (exit %s)" % c.proc.poll())
        state = ""
        for _ in range(300):              # until systemd answers on its bus
            p = c.run("systemctl", "is-system-running", "--wait", timeout=120)
            state = p.stdout.strip()
            # "offline" is what systemctl says when it cannot reach the
            # manager yet (no bus): under load that lasts a while.
            if state and state not in ("offline", "unknown"):
                break
            time.sleep(0.1)
        print("note: container booted, system state: %s" % state)
        if not state or state in ("offline", "unknown"):
            check(False, "systemd in the container answers systemctl", p.stderr)
            return
        p = c.run("systemctl", "is-enabled", "reclaimd.service")
        check(p.stdout.strip() == "enabled", "the package enabled reclaimd.service", p.stdout + p.stderr)
        p = c.run("systemctl", "start", "reclaimd.service")
        check(p.returncode == 0, "systemctl start reclaimd", p.stderr)
        p = c.run("systemctl", "is-active", "reclaimd.service")
        check(p.stdout.strip() == "active", "is-active after start: %s" % p.stdout.strip())
        p = c.run("systemctl", "show", "-p", "StatusText", "-p", "MainPID", "-p", "User", "reclaimd.service")
        check("StatusText=processing" in p.stdout and "User=reclaimd" in p.stdout,
              "STATUS= reaches systemd, running as the reclaimd user", p.stdout)
        # An input through the spool the unit's StateDirectory= made.
        spool = os.path.join(work, "var/lib/reclaimd/spool")
        users = [{"user_id": "u%d" % i, "events": [{"ts": i, "type": "view", "amount": 1.5}]} for i in range(20)]
        if not os.path.isdir(os.path.join(spool, "inbox")):
            check(False, "the service made its spool under StateDirectory=")
            return
        tmp = os.path.join(spool, "inbox", ".boot.tmp")
        with open(tmp, "w") as f:
            f.write("".join(json.dumps(u) + "\n" for u in users))
        os.rename(tmp, os.path.join(spool, "inbox", "boot.ndjson"))
        out = os.path.join(spool, "out", "boot.ndjson")
        for _ in range(200):
            if os.path.exists(out):
                break
            time.sleep(0.05)
        lines = open(out).read().splitlines() if os.path.exists(out) else []
        check(len(lines) == 20 and json.loads(lines[0])["user_id"] == "u0",
              "the service processed an input dropped into /var/lib/reclaimd/spool/inbox")
        p = c.run("systemctl", "reload", "reclaimd.service")
        check(p.returncode == 0, "systemctl reload reclaimd", p.stderr)
        time.sleep(0.5)
        p = c.run("systemctl", "is-active", "reclaimd.service")
        check(p.stdout.strip() == "active", "is-active after reload: %s" % p.stdout.strip())
        p = c.run("systemctl", "stop", "reclaimd.service")
        check(p.returncode == 0, "systemctl stop reclaimd", p.stderr)
        p = c.run("systemctl", "is-active", "reclaimd.service")
        check(p.stdout.strip() == "inactive", "is-active after stop: %s" % p.stdout.strip())
        j = c.run("journalctl", "-b", "-u", "reclaimd.service", "--no-pager", "-o", "cat").stdout
        for want in ("started spool=/var/lib/reclaimd/spool", "input=boot.ndjson finished records=20",
                     "reloaded /etc/reclaimd/reclaimd.conf", "stopping (SIGTERM)", "guard on:"):
            check(want in j, "journal: %s" % want, j[-2000:])
    finally:
        if c is not None:
            c.close()
        remove_root(work)


if __name__ == "__main__":
    main()
    finish()
