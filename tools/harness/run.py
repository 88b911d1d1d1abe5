#!/usr/bin/env python3
"""Boot the hypervisor once in an emulator and give the verdict.

The verdict comes from the kernel's console (COM1), never from the emulator's
exit status alone: the run passes when the console's single `RESULT:` line is
the expected one and every --expect regex matched some console line.

Exit status:
  0  the run gave the expected RESULT and every --expect matched
  1  it did not (wrong RESULT, missing line, watchdog, crash, emulator panic...)
  2  the harness could not start the run (bad option, missing build output, ...)
  3  the kernel reported `RESULT: SKIP ...` (e.g. no VMX) and SKIP was not expected

Python 3 standard library only.
"""

import argparse
import collections
import ctypes
import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MKISO = os.path.join(REPO, "tools", "mkiso")
# The Linux guest's files, which the build makes from the payload of
# `tools/hv setup` (docs/linux-guest.md), and their Multiboot2 module names.
# When the payload is absent the build has neither and the ISO lacks them.
LINUX_MODULES = (("linux", "bzImage"), ("initramfs", "initramfs.cpio"))

EXIT_OK, EXIT_FAIL, EXIT_ERROR, EXIT_SKIP = 0, 1, 2, 3

# isa-debug-exit: the kernel writes v to port 0xf4, QEMU exits with (v << 1) | 1.
QEMU_EXIT_FOR = {"PASS": 1, "FAIL": 3, "SKIP": 5}

BOCHS_SHARE = "/usr/share/bochs"
BOCHS_ROM = "BIOS-bochs-latest"
BOCHS_VGAROM = "VGABIOS-lgpl-latest"
# Writing "Shutdown" to port 0x8900 ends Bochs through a panic of this text:
# that one is the normal end of a run, not a failure.
BOCHS_SHUTDOWN_PANIC = "Shutdown port: shutdown requested"
# Bochs 2.7 refuses `memory: host=` above 2048 (the MiB of host memory that
# back the guest's) and never boots. guest= may be larger: Bochs backs each
# block when it is first touched and panics only once host= is used up; the
# kernel touches only the memory it hands out.
BOCHS_MAX_HOST_MIB = 2048
BOCHS_LOG_PATTERNS = re.compile(
    r">>PANIC<<|VMFAIL|VMENTER FAIL|triple fault|with no resolution", re.I)

RESULT_RE = re.compile(r"^RESULT: (PASS|FAIL|SKIP)\b ?(.*)$")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

CONSOLE_TAIL = 200
BOCHS_LOG_TAIL = 40
EXIT_GRACE_S = 10.0   # how long the emulator may live on after RESULT
STARTUP_FAILURE_S = 1.5  # an exit this early, silent, is the emulator's own failure
POLL_S = 0.05


def guest_mem_mib(g):
    """The MiB a --guest NAME[:ARGS] gets: its mem=, else 128 for the Linux
    image and 16 for the others (kernel/cmdline.h)."""
    name, _, gargs = g.partition(":")
    kv = dict(w.split("=", 1) for w in re.sub(r'"[^"]*"', "", gargs).split(",") if "=" in w)
    if "mem" in kv and kv["mem"].isdigit():
        return int(kv["mem"])
    return 128 if kv.get("image", name) == "linux" else 16


def default_mem(guests):
    """Enough emulated RAM for the guests asked for: theirs, plus 64 MiB for
    the hypervisor, its tables and the boot modules; at least 128 MiB."""
    need = 64 + sum(guest_mem_mib(g) for g in guests) if guests else 128
    return max(128, (need + 31) // 32 * 32)


def say(msg, stream=None):
    stream = stream or sys.stdout
    stream.write("hv-run: %s\n" % msg)
    stream.flush()


def default_build_dir():
    return os.environ.get("HV_BUILD_DIR") or os.path.join(REPO, "build")


def nested_vmx_available():
    """True when QEMU/KVM can give the guest VMX: /dev/kvm, a VMX host CPU
    and kvm_intel loaded with nested=Y."""
    if not os.path.exists("/dev/kvm") or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "no usable /dev/kvm"
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l.split(":", 1)[1].split() for l in f
                          if l.startswith("flags")), [])
    except OSError:
        flags = []
    if "vmx" not in flags:
        return False, "host CPU has no vmx flag"
    try:
        with open("/sys/module/kvm_intel/parameters/nested") as f:
            nested = f.read().strip()
    except OSError:
        return False, "kvm_intel not loaded"
    if nested not in ("Y", "y", "1"):
        return False, "kvm_intel nested=%s" % nested
    return True, "KVM with nested VMX"


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="run.py",
        description="Boot the hypervisor once in Bochs or QEMU and judge the run "
                    "from its console RESULT line.",
        epilog="Exit status: 0 expected result, 1 failure, 2 harness error, "
               "3 unexpected RESULT: SKIP (e.g. the CPU has no VMX).")
    p.add_argument("--emu", choices=["bochs", "qemu", "qemu-kvm", "auto"], default="auto",
                   help="emulator (auto: qemu-kvm when nested VMX is available, else bochs)")
    p.add_argument("--build-dir", default=default_build_dir(),
                   help="CMake build directory (default: $HV_BUILD_DIR or <repo>/build)")
    p.add_argument("--smp", type=int, default=1, help="number of CPUs (default 1)")
    p.add_argument("--mem", type=int, default=None,
                   help="the emulated machine's RAM in MiB (default: enough for the guests "
                        "asked for, at least 128)")
    p.add_argument("--cmdline", action="append", default=[], metavar="ARGS",
                   help="extra kernel command-line arguments (repeatable)")
    p.add_argument("--guest", action="append", default=[], metavar="NAME[:ARGS]",
                   help="guest to start (repeatable, in order); each becomes a guest=NAME[:ARGS] "
                        "word of the kernel command line; none given: the kernel's default")
    p.add_argument("--timeout", type=float, default=120,
                   help="wall-clock watchdog in seconds (default 120)")
    p.add_argument("--expect", action="append", default=[], metavar="REGEX",
                   help="a regex that must match some console line (repeatable)")
    p.add_argument("--reject", action="append", default=[], metavar="REGEX",
                   help="a regex that no console line may match (repeatable)")
    p.add_argument("--expect-result", choices=["PASS", "FAIL", "SKIP"], default="PASS",
                   help="the RESULT the run must end with (default PASS)")
    p.add_argument("--quiet", action="store_true",
                   help="do not stream the console live (it is still shown on failure)")
    p.add_argument("--name", help="run directory name under <build-dir>/runs/ "
                                  "(default: <emu>-<guests or 'default'>)")
    p.add_argument("--bochs-cpu", default="corei7_skylake_x",
                   help="Bochs CPU model (default corei7_skylake_x; e.g. tigerlake)")
    a = p.parse_args(argv)
    if a.smp < 1:
        p.error("--smp must be at least 1")
    if a.mem is None:
        a.mem = default_mem(a.guest)
    if a.mem < 16:
        p.error("--mem must be at least 16 MiB")
    if a.timeout <= 0:
        p.error("--timeout must be positive")
    for r in a.expect + a.reject:
        try:
            re.compile(r)
        except re.error as e:
            p.error("bad --expect regex %r: %s" % (r, e))
    return a


class Lines:
    """Follows a growing text file and hands out its complete lines."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.buf = b""

    def poll(self, final=False):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        self.pos += len(data)
        self.buf += data
        *complete, self.buf = self.buf.split(b"\n")
        if final and self.buf:
            complete.append(self.buf)
            self.buf = b""
        return [clean(l) for l in complete]


def clean(raw):
    s = raw.decode("utf-8", "replace").rstrip("\r\n")
    s = ANSI_RE.sub("", s).replace("\r", "")
    return s.rstrip()


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return [clean(l) for l in f.read().split(b"\n")]
    except FileNotFoundError:
        return []


def claim_run_dir(runs, name):
    """Lock <runs>/<name>.lock so that parallel runs never share a directory;
    if another live run holds it, take <name>-2, <name>-3, ..."""
    os.makedirs(runs, exist_ok=True)
    for i in range(1, 1000):
        cand = name if i == 1 else "%s-%d" % (name, i)
        fd = os.open(os.path.join(runs, cand + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        d = os.path.join(runs, cand)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d, fd
    raise RuntimeError("no free run directory for %s" % name)


def bochsrc_text(a, iso):
    return "\n".join([
        "# written by tools/harness/run.py",
        "memory: guest=%d, host=%d" % (a.mem, min(a.mem, BOCHS_MAX_HOST_MIB)),
        "cpu: model=%s, count=%d, ips=50000000, reset_on_triple_fault=0, "
        "ignore_bad_msrs=0" % (a.bochs_cpu, a.smp),
        "clock: sync=none",
        "romimage: file=%s/%s" % (BOCHS_SHARE, BOCHS_ROM),
        "vgaromimage: file=%s/%s" % (BOCHS_SHARE, BOCHS_VGAROM),
        "ata0-master: type=cdrom, path=%s, status=inserted" % iso,
        "boot: cdrom",
        "com1: enabled=1, mode=file, dev=console.log",
        "port_e9_hack: enabled=1",
        # Debian's Bochs has no 'nogui'; rfb without waiting for a client is
        # headless. It binds the first free port in 5900-5949, so runs can overlap.
        'display_library: rfb, options="timeout=0"',
        # Without a sound card ALSA's open aborts Bochs ("buffer overflow detected").
        "sound: driver=dummy",
        "speaker: enabled=0",
        "log: bochs.log",
        "panic: action=fatal",
        "error: action=report",
        "info: action=report",
        "debug: action=ignore",
        "",
    ])


def emulator_command(a, emu, run_dir, iso):
    if emu == "bochs":
        if not shutil.which("bochs"):
            raise RuntimeError("bochs not found (run: tools/hv setup)")
        for f in (BOCHS_ROM, BOCHS_VGAROM):
            if not os.path.exists(os.path.join(BOCHS_SHARE, f)):
                raise RuntimeError("%s/%s missing (packages bochsbios, vgabios)"
                                   % (BOCHS_SHARE, f))
        with open(os.path.join(run_dir, "bochsrc"), "w") as f:
            f.write(bochsrc_text(a, os.path.basename(iso)))
        # Debian's Bochs is built with its debugger: feed it 'continue'.
        with open(os.path.join(run_dir, "bochs.rc"), "w") as f:
            f.write("continue\n")
        return ["bochs", "-q", "-f", "bochsrc", "-rc", "bochs.rc"]
    if not shutil.which("qemu-system-x86_64"):
        raise RuntimeError("qemu-system-x86_64 not found (run: tools/hv setup)")
    cmd = ["qemu-system-x86_64", "-cdrom", os.path.basename(iso), "-boot", "d",
           "-m", str(a.mem), "-smp", str(a.smp), "-display", "none", "-no-reboot",
           "-serial", "file:console.log",
           "-debugcon", "file:e9.log",          # port 0xE9, as Bochs' e9 hack
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if emu == "qemu-kvm":
        cmd += ["-enable-kvm", "-cpu", "host,+vmx"]
    return cmd


def pdeathsig_preexec():
    """Have the kernel SIGKILL the emulator if the harness dies (e.g. ctest's
    timeout kills us with SIGKILL): no orphaned Bochs keeps a CPU busy."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def fn():
        prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    return fn


def kill_group(proc):
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Terminated(Exception):
    pass


def on_signal(signum, _frame):
    raise Terminated(signum)


def scan_bochs_log(path):
    """Returns (interesting lines, last lines, real panics)."""
    hits, panics = [], []
    tail = collections.deque(maxlen=BOCHS_LOG_TAIL)
    try:
        with open(path, "rb") as f:
            for raw in f:
                l = clean(raw)
                tail.append(l)
                if BOCHS_LOG_PATTERNS.search(l):
                    hits.append(l)
                    if ">>PANIC<<" in l and BOCHS_SHUTDOWN_PANIC not in l:
                        panics.append(l)
    except FileNotFoundError:
        pass
    return hits, list(tail), panics


def print_block(title, lines, limit=None):
    if limit is not None and len(lines) > limit:
        lines = ["... (%d lines before)" % (len(lines) - limit)] + lines[-limit:]
    print("---- %s ----" % title)
    for l in lines:
        print(l)
    print("---- end of %s ----" % title)


def main(argv):
    a = parse_args(argv)
    build = os.path.abspath(a.build_dir)

    if a.emu == "auto":
        ok, why = nested_vmx_available()
        emu = "qemu-kvm" if ok else "bochs"
        say("--emu auto: %s (%s)" % (emu, why))
    else:
        emu = a.emu

    kernel = os.path.join(build, "hv.elf")
    symbols = os.path.join(build, "hv.sym")
    guests_dir = os.path.join(build, "guests")
    for f in (kernel, symbols):
        if not os.path.isfile(f):
            say("error: %s not found: build first (tools/hv build)" % f, sys.stderr)
            return EXIT_ERROR
    have = sorted(f[:-4] for f in os.listdir(guests_dir) if f.endswith(".bin")) \
        if os.path.isdir(guests_dir) else []
    extra = [(name, os.path.join(build, "linux", f)) for name, f in LINUX_MODULES]
    extra = [(name, path) for name, path in extra if os.path.isfile(path)]
    have += [name for name, _ in extra]
    for g in a.guest:
        name, _, gargs = g.partition(":")
        if re.search(r"\s", re.sub(r'"[^"]*"', "", g)) or g.count('"') % 2 or not name:
            say("error: bad --guest %r: NAME[:ARGS] without spaces (but inside "
                "cmdline=\"...\")" % g, sys.stderr)
            return EXIT_ERROR
        images = [kv[6:] for kv in gargs.split(",") if kv.startswith("image=")]
        name = images[-1] if images else name
        if name != "none" and name not in have:
            hint = " (the Linux payload: run tools/hv setup)" \
                if name in dict(LINUX_MODULES) else ""
            say("error: no guest image %s/%s.bin (have: %s)%s"
                % (guests_dir, name, " ".join(have) or "none", hint), sys.stderr)
            return EXIT_ERROR

    words = []
    for c in a.cmdline:
        words += c.split()
    words += ["guest=" + g for g in a.guest]
    cmdline = " ".join(words)

    label = "default" if not a.guest else \
        "+".join(re.sub(r"[^A-Za-z0-9_.-]", "_", g.split(":", 1)[0]) for g in a.guest)
    name = a.name or "%s-%s" % (emu, label[:60])
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    run_dir, lock_fd = claim_run_dir(os.path.join(build, "runs"), name)

    iso = os.path.join(run_dir, "hv.iso")
    mk = [MKISO, "--out", iso, "--kernel", kernel, "--symbols", symbols,
          "--guests-dir", guests_dir if os.path.isdir(guests_dir) else run_dir,
          "--cmdline", cmdline]
    for name, path in extra:
        mk += ["--module", path, name]
    r = subprocess.run(mk, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.stdout.write(r.stdout.decode("utf-8", "replace"))
        say("error: tools/mkiso failed", sys.stderr)
        return EXIT_ERROR

    try:
        cmd = emulator_command(a, emu, run_dir, iso)
    except RuntimeError as e:
        say("error: %s" % e, sys.stderr)
        return EXIT_ERROR
    with open(os.path.join(run_dir, "command.sh"), "w") as f:
        f.write("#!/bin/sh\n# rerun this boot by hand\ncd %s && exec %s </dev/null\n"
                % (shlex.quote(run_dir), " ".join(shlex.quote(c) for c in cmd)))
    say("%s, smp=%d, mem=%d MiB, cmdline=%r, timeout=%g s, expect RESULT: %s"
        % (emu, a.smp, a.mem, cmdline, a.timeout, a.expect_result))
    say("run dir: %s" % run_dir)

    console_path = os.path.join(run_dir, "console.log")
    out = open(os.path.join(run_dir, "emulator.stdout"), "wb")
    err = open(os.path.join(run_dir, "emulator.stderr"), "wb")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    console = []
    results = []          # (line, seconds since start)
    first_entry = []      # seconds since start of the kernel's "first VM entry" line
    reader = Lines(console_path)
    watchdog = lingered = interrupted = False
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=err, start_new_session=True,
                            preexec_fn=pdeathsig_preexec())

    def take(lines):
        for l in lines:
            console.append(l)
            if not a.quiet:
                sys.stdout.write(l + "\n")
            if RESULT_RE.match(l):
                results.append((l, time.monotonic() - t0))
            if not first_entry and "first VM entry" in l:
                first_entry.append(time.monotonic() - t0)
        if lines and not a.quiet:
            sys.stdout.flush()

    try:
        while True:
            take(reader.poll())
            if proc.poll() is not None:
                break
            now = time.monotonic()
            if results and now - t0 - results[0][1] > EXIT_GRACE_S:
                lingered = True
                kill_group(proc)
                break
            if now - t0 > a.timeout:
                watchdog = True
                kill_group(proc)
                break
            time.sleep(POLL_S)
    except (KeyboardInterrupt, Terminated):
        interrupted = True
        kill_group(proc)
    elapsed = time.monotonic() - t0
    take(reader.poll(final=True))
    rc = proc.wait()
    out.close()
    err.close()
    if interrupted:
        say("interrupted; emulator stopped", sys.stderr)
        return EXIT_FAIL

    # The emulator died before the firmware could even reach the kernel (no
    # console byte, well under the BIOS's own time): a start-up failure of the
    # emulator, not a verdict on the kernel. Say so, and try once more.
    if not console and not watchdog and elapsed < STARTUP_FAILURE_S and not os.environ.get("HV_RUN_RETRIED"):
        errs = [l for l in read_lines(os.path.join(run_dir, "emulator.stderr")) if l]
        say("note: the emulator exited after %.1f s with status %d before any console output; retrying once"
            % (elapsed, rc))
        if errs:
            print_block("emulator stderr of the failed start", errs, 20)
        if emu == "bochs":
            print_block("bochs.log of the failed start", scan_bochs_log(os.path.join(run_dir, "bochs.log"))[1], 20)
        os.close(lock_fd)
        os.environ["HV_RUN_RETRIED"] = "1"
        return main(argv)

    # --- verdict --------------------------------------------------------------
    problems = []
    notes = []

    # Port 0xE9 carries the same text; a COM1 log cut short (a byte still in the
    # UART when the emulator ended) is completed from it.
    e9_lines = read_lines(os.path.join(run_dir, "emulator.stdout" if emu == "bochs"
                                       else "e9.log"))
    if not results:
        e9_results = [l for l in e9_lines if RESULT_RE.match(l)]
        if e9_results:
            results = [(l, elapsed) for l in e9_results]
            notes.append("RESULT line taken from the port 0xE9 output: the COM1 log "
                         "ends early (the kernel should wait for LSR.TEMT before "
                         "ending the emulator)")

    hits, log_tail, panics = [], [], []
    if emu == "bochs":
        hits, log_tail, panics = scan_bochs_log(os.path.join(run_dir, "bochs.log"))

    result = kind = None
    if len(results) > 1:
        problems.append("more than one RESULT line: %s"
                        % "; ".join(r[0] for r in results))
    if results:
        result = results[0][0]
        kind = RESULT_RE.match(result).group(1)
    elif watchdog:
        problems.append("no RESULT line: watchdog fired after %g s" % a.timeout)
    else:
        why = "emulator exited without a RESULT line (triple fault? panic?)"
        if emu != "bochs":
            why += "; exit status %d" % rc
        problems.append(why)

    for p in panics:
        problems.append("Bochs panic: %s" % p)

    if result and kind != a.expect_result:
        problems.append("expected RESULT: %s, got %s" % (a.expect_result, result))

    if lingered:
        problems.append("the emulator did not exit within %g s after the RESULT line "
                        "(the kernel must end it: port 0xf4, then 'Shutdown' to 0x8900)"
                        % EXIT_GRACE_S)
    elif result and emu != "bochs" and rc != QEMU_EXIT_FOR[kind]:
        problems.append("QEMU exit status %d disagrees with %s (isa-debug-exit should "
                        "give %d: the kernel writes %d to port 0xf4)"
                        % (rc, result, QEMU_EXIT_FOR[kind],
                           (QEMU_EXIT_FOR[kind] - 1) >> 1))

    searchable = console + e9_lines if notes else console
    for r in a.expect:
        rx = re.compile(r)
        if not any(rx.search(l) for l in searchable):
            problems.append("expected line not found: %s" % r)
    for r in a.reject:
        rx = re.compile(r)
        hit = next((l for l in searchable if rx.search(l)), None)
        if hit is not None:
            problems.append("rejected line found: %s (matches %s)" % (hit, r))

    boot_s = results[0][1] if results else None
    for n in notes:
        say("note: %s" % n)

    if first_entry:
        say("boot to first VM entry: %.1f s of wall time (emulator start to the kernel's line)"
            % first_entry[0])
    if not problems:
        say("ok: %s after %.1f s (%s); %d console lines"
            % (result, boot_s, emu, len(console)))
        return EXIT_OK

    # An unexpected SKIP gets its own status unless something else went wrong
    # too (a panic, a second RESULT, a bad exit): the missing --expect lines
    # and the RESULT itself are what a SKIP implies.
    soft = ("expected RESULT: ", "expected line not found: ")
    unexpected_skip = (kind == "SKIP" and a.expect_result != "SKIP"
                       and all(p.startswith(soft) for p in problems))
    for p in problems:
        say("FAIL: %s" % p)
    if a.quiet:
        print_block("console (%s)" % console_path, console, CONSOLE_TAIL)
    if emu == "bochs":
        if hits:
            print_block("bochs.log: panics, VM-entry failures, triple faults",
                        hits, 100)
        print_block("bochs.log: last %d lines" % BOCHS_LOG_TAIL, log_tail)
    if not results:
        errs = read_lines(os.path.join(run_dir, "emulator.stderr"))
        errs = [l for l in errs if l and "lt_dlhandle" not in l]
        if errs:
            print_block("emulator stderr (last 20 lines)", errs, 20)
    say("run dir: %s" % run_dir)
    if unexpected_skip:
        say("SKIPPED: the kernel reported %s (expected %s); exit status %d"
            % (result, a.expect_result, EXIT_SKIP))
        return EXIT_SKIP
    say("verdict: FAIL (%s)" % problems[0])
    return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
