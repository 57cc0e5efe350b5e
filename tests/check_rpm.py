#!/usr/bin/python3
"""The RPM spec: packaging/rpm/reclaimd.spec builds a binary RPM with rpmbuild whose file list,
configuration files and scriptlets are what the spec promises.

usage: check_rpm.py SOURCE_DIR

Builds a source tarball of the tracked files, runs `rpmbuild -bb` on the spec
in a scratch _topdir (--nodeps: this Debian machine has no RPM database of
build dependencies; the build itself really runs cmake and the compiler), then
checks `rpm -qlp`, `rpm -qcp` and `rpm -qp --scripts`. Debian's rpm ships no
systemd-rpm-macros: where %systemd_post and friends are undefined the test
supplies stand-ins that expand to a marker line naming the macro and its
arguments (and the unit/sysusers/tmpfiles directories from systemd.pc), so the
scriptlets can be checked to call the right macro for the right unit; on a
Fedora-like system the real macros are used. Skipped, with the reason, where
rpmbuild is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from checks import check, finish

SKIP = 77
src = os.path.abspath(sys.argv[1])
if shutil.which("rpmbuild") is None:
    print("SKIP: rpmbuild is not installed (Debian package rpm)")
    sys.exit(SKIP)
work = tempfile.mkdtemp(prefix="reclaimd-rpm-")


def pc(var):
    return subprocess.run(["pkg-config", "--variable=" + var, "systemd"], capture_output=True, text=True,
                          check=True).stdout.strip()


try:
    for d in ("SOURCES", "BUILD", "RPMS", "SRPMS", "SPECS", "BUILDROOT"):
        os.makedirs(os.path.join(work, d))
    files = subprocess.run(["git", "-C", src, "ls-files", "-z"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-C", src, "--null", "-T", "-", "--transform", "s,^,reclaimd-0.1.0/,", "-czf",
                    os.path.join(work, "SOURCES", "reclaimd-0.1.0.tar.gz")], input=files, check=True)
    defines = ["--define", "_topdir " + work]
    have_real = subprocess.run(["rpm", "--eval", "%{?systemd_post:real}"], capture_output=True,
                               text=True).stdout.strip() == "real"
    if not have_real:
        print("note: no systemd-rpm-macros here: stand-in definitions mark where each macro is called")
        for name in ("systemd_post", "systemd_preun", "systemd_postun_with_restart", "tmpfiles_create",
                     "sysusers_create_compat"):
            defines += ["--define", "%s() echo 'MACRO %s %%*'" % (name, name)]
        defines += ["--define", "_unitdir " + pc("systemdsystemunitdir"),
                    "--define", "_sysusersdir " + pc("sysusersdir"),
                    "--define", "_tmpfilesdir " + pc("tmpfilesdir")]
    p = subprocess.run(["rpmbuild", "-bb", "--nodeps", *defines, os.path.join(src, "packaging/rpm/reclaimd.spec")],
                       capture_output=True, text=True)
    check(p.returncode == 0, "rpmbuild -bb" + ("" if p.returncode == 0 else ":\n" + p.stderr[-3000:]))
    rpms = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(work, "RPMS")) for f in fs
            if f.startswith("reclaimd-0.1.0") and "debug" not in f]
    check(len(rpms) == 1, "one reclaimd binary RPM built: %s" % [os.path.basename(r) for r in rpms])
    rpm = rpms[0]
    listing = subprocess.run(["rpm", "-qlp", rpm], capture_output=True, text=True, check=True).stdout.split()
    unitdir = pc("systemdsystemunitdir") if not have_real else subprocess.run(
        ["rpm", "--eval", "%{_unitdir}"], capture_output=True, text=True).stdout.strip()
    for want in ("/usr/sbin/reclaimd", "/usr/bin/reclaimctl", "/etc/reclaimd/reclaimd.conf",
                 unitdir + "/reclaimd.service", unitdir + "/reclaimd@.service", "/usr/share/man/man8/reclaimd.8",
                 "/usr/share/man/man5/reclaimd.conf.5", "/usr/share/man/man1/reclaimctl.1"):
        # man pages compressed or not, as the distribution's brp scripts decide
        check(any(f == want or f.startswith(want + ".") for f in listing), "the RPM holds " + want)
    stray = [f for f in listing if f.startswith("/tmp") or "BUILDROOT" in f]
    check(not stray, "no build paths in the file list" + ("" if not stray else ": %s" % stray))
    conf = subprocess.run(["rpm", "-qcp", rpm], capture_output=True, text=True, check=True).stdout.split()
    check(conf == ["/etc/reclaimd/reclaimd.conf"], "reclaimd.conf is the one %%config file: %s" % conf)
    scripts = subprocess.run(["rpm", "-qp", "--scripts", rpm], capture_output=True, text=True, check=True).stdout
    if have_real:
        check("systemctl" in scripts and "reclaimd.service" in scripts, "scriptlets run systemctl on the unit")
    else:
        for want in ("MACRO systemd_post reclaimd.service", "MACRO systemd_preun reclaimd.service",
                     "MACRO systemd_postun_with_restart reclaimd.service",
                     "MACRO sysusers_create_compat systemd/reclaimd.sysusers", "MACRO tmpfiles_create"):
            check(want in scripts, "scriptlets call " + want.split(" ", 1)[1])
    # The packaged binary runs.
    unpack = os.path.join(work, "root")
    os.makedirs(unpack)
    subprocess.run("rpm2cpio %s | cpio -idm --quiet" % rpm, shell=True, cwd=unpack, check=True)
    p = subprocess.run([os.path.join(unpack, "usr/sbin/reclaimd"), "--version"], capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.startswith("reclaimd 0.1.0"), "the packaged reclaimd --version runs")
finally:
    shutil.rmtree(work, ignore_errors=True)
finish()
