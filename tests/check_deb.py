#!/usr/bin/python3
"""The Debian package: builds with dpkg-buildpackage, is clean under lintian, installs the right
files, and the installed binary accepts the installed configuration as an unprivileged user.

usage: check_deb.py SOURCE_DIR [KEEP_DIR]

With KEEP_DIR, the built .deb is copied there (for tests/systemd_boot.py).

Copies the tracked files to a scratch directory with packaging/debian as debian/,
builds with `dpkg-buildpackage -us -uc -b`, runs lintian (no errors allowed; the
one expected warning, initial-upload-closes-no-bugs, means this is not a Debian
archive upload), checks the file list, unpacks the .deb into a scratch root and
runs its reclaimd --check-config on its reclaimd.conf as nobody inside a private
mount namespace where /var/lib/reclaimd/spool exists (as StateDirectory= makes
it). Skipped, with the reason, where dpkg-buildpackage or lintian is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish

src = os.path.abspath(sys.argv[1])
for tool in ("dpkg-buildpackage", "lintian", "dh"):
    if shutil.which(tool) is None:
        print("SKIP: %s is not installed (packages dpkg-dev, debhelper, lintian)" % tool)
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(0)
work = tempfile.mkdtemp(prefix="reclaimd-deb-")
os.chmod(work, 0o755)   # the unprivileged check below must reach the unpacked root
tree = os.path.join(work, "reclaimd")


try:
    os.makedirs(tree)
    files = subprocess.run(["git", "-C", src, "ls-files", "-z"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-C", src, "--null", "-T", "-", "-cf", os.path.join(work, "src.tar")], input=files,
                   check=True)
    subprocess.run(["tar", "-C", tree, "-xf", os.path.join(work, "src.tar")], check=True)
    shutil.copytree(os.path.join(tree, "packaging", "debian"), os.path.join(tree, "debian"), symlinks=True)
    p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, capture_output=True, text=True)
    check(p.returncode == 0, "dpkg-buildpackage -us -uc -b" + ("" if p.returncode == 0 else ":\n" + p.stderr[-2000:]))
    debs = [f for f in os.listdir(work) if f.startswith("reclaimd_") and f.endswith(".deb")]
    check(len(debs) == 1, "one reclaimd .deb built")
    deb = os.path.join(work, debs[0])
    if len(sys.argv) > 2:
        keep = os.path.abspath(sys.argv[2])
        shutil.rmtree(keep, ignore_errors=True)
        os.makedirs(keep)
        shutil.copy(deb, keep)
    p = subprocess.run(["lintian", deb], capture_output=True, text=True)
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith(("E:", "W:"))]
    unexpected = [l for l in lines if l.startswith("E:") or "initial-upload-closes-no-bugs" not in l]
    check(not unexpected, "lintian: no errors, no unexplained warnings" + ("" if not unexpected else
                                                                          ":\n" + "\n".join(unexpected)))
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    names = {l.split()[-1].lstrip(".") for l in listing.splitlines()}
    want = ["/usr/sbin/reclaimd", "/usr/bin/reclaimctl", "/etc/reclaimd/reclaimd.conf",
            "/lib/systemd/system/reclaimd.service", "/lib/systemd/system/reclaimd@.service",
            "/usr/lib/sysusers.d/reclaimd.conf", "/usr/lib/tmpfiles.d/reclaimd.conf",
            "/usr/share/man/man8/reclaimd.8.gz", "/usr/share/man/man5/reclaimd.conf.5.gz",
            "/usr/share/man/man1/reclaimctl.1.gz"]
    missing = [w for w in want if w not in names]
    check(not missing, "file list" + ("" if not missing else ": missing " + ", ".join(missing)))
    ctl = subprocess.run(["dpkg-deb", "-e", deb, os.path.join(work, "ctl")], check=True)
    conffiles = open(os.path.join(work, "ctl", "conffiles")).read()
    check("/etc/reclaimd/reclaimd.conf" in conffiles, "reclaimd.conf is a conffile (kept on upgrade)")
    postinst = open(os.path.join(work, "ctl", "postinst")).read()
    check("systemd-sysusers" in postinst and "deb-systemd-helper" in postinst,
          "postinst creates the user and enables the unit")
    root = os.path.join(work, "root")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    script = ("set -e; mount --make-rprivate /; mount -t tmpfs tmpfs /var/lib; mkdir -p /var/lib/reclaimd/spool; "
              "chown -R 65534:65534 /var/lib/reclaimd; "
              "exec setpriv --reuid=65534 --regid=65534 --clear-groups %s/usr/sbin/reclaimd --check-config "
              "--config %s/etc/reclaimd/reclaimd.conf" % (root, root))
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    if p.returncode != 0 and "unshare" in p.stderr and "Operation not permitted" in p.stderr:
        print("SKIP  installed --check-config as nobody: no private mount namespace here (%s)" % p.stderr.strip())
    else:
        check(p.returncode == 0 and "dir = /var/lib/reclaimd/spool" in p.stdout,
              "installed reclaimd --check-config passes on the installed config as an unprivileged user" +
              ("" if p.returncode == 0 else ":\n" + p.stderr))
finally:
    shutil.rmtree(work)
finish()
