#!/usr/bin/env python3
"""tools/hv perf: dirty-log performance runs in Bochs, one per run-time switch
setting (a run is one setting of the kernel's eager_split=, rmap_walk=,
dirty_log=, mmio_zap=), with the ratios between settings; all figures are
emulated TSC cycles: compare ratios, never absolute times. docs/perf.md.

Two suites:
- dlpt: KVM's dirty_log_perf_test (guests/dlpt.cpp driving the N vCPUs of
  guests/memstress.cpp), for N = 1, 2, 3 vCPUs on CPUs 1..N of a 4-CPU Bochs,
  dlpt alone on CPU 0. Per N: eager_split=1 vs 0 in plain and initially-set
  mode (seed 002); the get-dirty-log time while the vCPUs dirty memory
  (concurrent=1, random order) with rmap_walk=lockless vs locked, and what
  the vCPUs got done during each get, in steady state (fast faults) and, with
  eager_split=0, in the middle of pass 1 (slow faults, under the MMU lock)
  (seed 000); dirty_log=pml vs wp. Prints KVM's table for every run, then the ratios per
  N beside the seeds' figures.
- migration: the default live migration on two CPUs (the dirtier on CPU 0
  writing continuously, the migrator harvesting from CPU 1), and the MMIO
  guest for mmio_zap=; the migrator's rows and their ratios.

Usage: tools/perf.py [--build-dir DIR] [--suite all|dlpt|migration]
                     [--vcpus 1,2,3] [--mib N] [--iterations N] [--rounds N]
"""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "harness", "run.py")
# The columns up to pml_entries; est_downtime (the last) is not used here.
ROW = re.compile(r"^\[migrator\] migrator: (log-on|full|round \d+|final)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+"
                 r"(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+$")
COST = re.compile(r"^\[migrator\] migrator: logging's cost to the source: (\d+) cycles per page of its first pass")


def migration(rounds, smp):
    return ["--guest", "src:image=dirtier,expect=stopped,cpu=0",
            "--guest", "dst:image=none,start=paused,expect=stopped,cpu=0",
            "--guest", "migrator:role=control,src=0,dst=1,cpu=%d,threshold=0,rounds=%d,cost=1" % (smp - 1, rounds)]


# The MMIO guest and a control guest that creates and deletes a 4 KiB slot in
# it 24 times: each change invalidates its MMIO SPTEs (by generation, or by a
# walk of all its tables), and the guest touches its device after each.
MMIO = ["--guest", "mmio:iterations=40000", "--guest", "slotter:role=control,target=0,count=24,kib=4"]
SLOT = re.compile(r"^\[slotter\] slotter: (\d+) cycles per slot change")


def boot(build, name, cmdline, smp, guests, mem=None, tag=""):
    """One Bochs run through the harness, with a progress line; exits on a
    failed run (its console's tail shown). Returns the console log's path."""
    cmd = [sys.executable, RUN, "--emu", "bochs", "--build-dir", build, "--smp", str(smp), "--quiet",
           "--timeout", "300", "--name", "perf-" + name] + guests
    if mem:
        cmd += ["--mem", str(mem)]
    if cmdline:
        cmd += ["--cmdline", cmdline]
    print("perf: %s%-24s %-20s ..." % (tag, name, cmdline), end="", flush=True)
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    console = os.path.join(build, "runs", "perf-" + name, "console.log")
    print(" %s (%.0f s)" % ("ok" if r.returncode == 0 else "FAILED (see %s)" % console, time.time() - t0), flush=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout[-3000:])
        sys.exit(1)
    return console


def run(build, name, cmdline, smp, guests):
    console = boot(build, name, cmdline, smp, guests)
    rows = {}
    with open(console, errors="replace") as f:
        for line in f:
            m = ROW.match(line.strip())
            if m:
                rows[m.group(1)] = [int(x) for x in m.groups()[1:]]
            m = COST.match(line.strip())
            if m:
                rows["cost"] = int(m.group(1))
            m = SLOT.match(line.strip())
            if m:
                rows["slot_change"] = int(m.group(1))
    return rows


def steady_harvest(rows):
    """Mean harvest cycles and dirty pages of rounds 2.. (round 1 still pays
    for the first full copy's faults)."""
    rs = [v for k, v in rows.items() if k.startswith("round ") and int(k[6:]) >= 2]
    if not rs:
        return 0, 0
    return sum(v[1] for v in rs) / len(rs), sum(v[0] for v in rs) / len(rs)


# ---------------------------------------------------------------------------
# KVM's dirty_log_perf_test: guests/dlpt.cpp (role=control, CPU 0) driving
# guests/memstress.cpp (N vCPUs on CPUs 1..N). One run per setting.

DLPT_LINE = re.compile(r"^\[dlpt\] dlpt: (.*)$")
TIME = re.compile(r"^(Populate memory|Enabling dirty logging|Disabling dirty logging) time: (\d+) us \((\d+) cycles\)$")
ITER_TIME = re.compile(r"^Iteration (\d+) (dirty memory|get dirty log|clear dirty log) time: (\d+) us \((\d+) cycles\)$")
ITER_FAULTS = re.compile(r"^Iteration (\d+) vCPU faults: (\d+) slow, (\d+) fast, (\d+) splits, (\d+) lazy splits, "
                         r"(\d+) PML entries$")
DURING = re.compile(r"^Iteration (\d+) during get dirty log: (\d+) pages written, (\d+) vCPU faults completed "
                    r"\((\d+) slow\)")
TSC_MHZ = re.compile(r"^smp: TSC ([0-9.]+) MHz")
ENABLED = re.compile(r"^after enabling: (\d+) splits, slot mapped by (\d+) 4K, (\d+) 2M leaves$")

# The seeds' figures, as their authors measured them (seconds or ns).
# Seed 002 (Eager Page Splitting, 96 vCPUs x 1 GiB, 1 GiB HugeTLB):
SEED002 = {
    "plain_dirty1": (2.943733325, 0.145979748),    # Iteration 1 dirty memory time, before/after
    "plain_enable": (0.001683739, 1.546904175),    # Enabling dirty logging time, before/after
    "iset_dirty2": (2.751442902, 0.127016504),     # initially-set: Iteration 2 dirty memory time
    "iset_clear1": (0.049572219, 1.667811687),     # initially-set: Iteration 1 clear dirty log time
    "iset_clear3": (1.374501209, 1.422478617),     # initially-set: Iteration 3 clear dirty log time
}
# Seed 000 (lockless write-protection): migrate-perf's get-dirty-log, 10 runs.
SEED000 = (9009483, 4807343)  # ns, before/after


def dlpt_runs():
    """The runs for each N: name -> (kernel switches, dlpt's extra args)."""
    return {
        "eager-plain": ("eager_split=1", "log=plain"),
        "noeager-plain": ("eager_split=0", "log=plain"),
        "eager-iset": ("eager_split=1", "log=initially_set"),
        "noeager-iset": ("eager_split=0", "log=initially_set"),
        "lockless-conc": ("rmap_walk=lockless", "log=plain,concurrent=1,random=1"),
        "locked-conc": ("rmap_walk=locked", "log=plain,concurrent=1,random=1"),
        "lockless-conc-noeager": ("rmap_walk=lockless eager_split=0", "log=plain,concurrent=1,random=1"),
        "locked-conc-noeager": ("rmap_walk=locked eager_split=0", "log=plain,concurrent=1,random=1"),
        "pml-plain": ("dirty_log=pml", "log=plain"),
    }


def parse_dlpt(console):
    """dlpt's table from a console log: the lines as printed, and the
    figures (cycles) by name."""
    r = {"lines": [], "dirty": {}, "get": {}, "clear": {}, "faults": {}, "during": {}, "pass": False, "mhz": 0.0}
    with open(console, errors="replace") as f:
        for raw in f:
            if (m := TSC_MHZ.match(raw)):
                r["mhz"] = float(m.group(1))
            m = DLPT_LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            line = m.group(1)
            r["lines"].append(line)
            if line == "PASS":
                r["pass"] = True
            if (m := TIME.match(line)):
                r[m.group(1).split()[0].lower()] = int(m.group(3))
            elif (m := ITER_TIME.match(line)):
                r[m.group(2).split()[0]][int(m.group(1))] = int(m.group(4))
            elif (m := ITER_FAULTS.match(line)):
                r["faults"][int(m.group(1))] = [int(x) for x in m.groups()[1:]]
            elif (m := DURING.match(line)):
                r["during"][int(m.group(1))] = [int(x) for x in m.groups()[1:]]
            elif (m := ENABLED.match(line)):
                r["enabled"] = [int(x) for x in m.groups()]
    return r


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def ratio(a, b):
    return a / b if b else float("nan")


def dlpt_suite(a):
    results = {}
    total = len(a.vcpus) * len(dlpt_runs())
    k = 0
    t0 = time.time()
    for n in a.vcpus:
        cpus = "cpu=1" if n == 1 else "cpus=1-%d" % n
        mem = max(256, 192 + n * a.mib)
        for name, (switches, extra) in dlpt_runs().items():
            k += 1
            guests = ["--guest", "memstress:vcpus=%d,%s,expect=stopped" % (n, cpus),
                      "--guest", "dlpt:role=control,target=0,cpu=0,mib=%d,iterations=%d,%s"
                      % (a.mib, a.iterations, extra)]
            console = boot(a.build_dir, "dlpt-n%d-%s" % (n, name), switches, 4, guests, mem, "[%d/%d] " % (k, total))
            r = parse_dlpt(console)
            if not r["pass"]:
                print("perf: dlpt did not pass in %s" % console)
                sys.exit(1)
            results[(n, name)] = r
    print("perf: %d dlpt runs in %.0f s" % (total, time.time() - t0))

    # KVM's table, per run.
    for (n, name), r in results.items():
        switches, extra = dlpt_runs()[name]
        print()
        print("== dirty_log_perf_test: %d vCPU%s x %d MiB, %s, %s" % (n, "s" if n > 1 else "", a.mib, switches,
                                                                       extra))
        for line in r["lines"]:
            print("   " + line)

    # The ratios per N, beside the seeds'.
    it = a.iterations
    rows = []

    def row(label, fn, anchor):
        rows.append((label, [fn(results, n) for n in a.vcpus], anchor))

    def get(n, name):
        return results[(n, name)]

    s2 = SEED002
    row("seed 002, plain: iteration 1 dirty memory time, eager_split 0 / 1",
        lambda R, n: ratio(get(n, "noeager-plain")["dirty"][1], get(n, "eager-plain")["dirty"][1]),
        "%.1fx (%.3f s -> %.3f s)" % (s2["plain_dirty1"][0] / s2["plain_dirty1"][1], *s2["plain_dirty1"]))
    row("seed 002, plain: enabling dirty logging time, eager_split 1 / 0",
        lambda R, n: ratio(get(n, "eager-plain")["enabling"], get(n, "noeager-plain")["enabling"]),
        "%.0fx (%.4f s -> %.3f s)" % (s2["plain_enable"][1] / s2["plain_enable"][0], *s2["plain_enable"]))
    row("seed 002, initially-set: iteration 2 dirty memory time, eager_split 0 / 1",
        lambda R, n: ratio(get(n, "noeager-iset")["dirty"][2], get(n, "eager-iset")["dirty"][2]),
        "%.1fx (%.3f s -> %.3f s)" % (s2["iset_dirty2"][0] / s2["iset_dirty2"][1], *s2["iset_dirty2"]))
    row("seed 002, initially-set: iteration 1 clear dirty log time, eager_split 1 / 0",
        lambda R, n: ratio(get(n, "eager-iset")["clear"][1], get(n, "noeager-iset")["clear"][1]),
        "%.1fx (%.3f s -> %.3f s)" % (s2["iset_clear1"][1] / s2["iset_clear1"][0], *s2["iset_clear1"]))
    row("seed 002, initially-set: iteration 3 clear dirty log time, eager_split 1 / 0",
        lambda R, n: ratio(get(n, "eager-iset")["clear"][3], get(n, "noeager-iset")["clear"][3]),
        "%.3fx (%.3f s -> %.3f s)" % (s2["iset_clear3"][1] / s2["iset_clear3"][0], *s2["iset_clear3"]))
    def gets(n, name):  # iterations 1.. (KVM's), not the extra iteration 0
        return [v for k, v in get(n, name)["get"].items() if k >= 1]

    def during(n, name, col):
        return [v[col] for k, v in get(n, name)["during"].items() if k >= 1]

    row("seed 000: get dirty log time while the vCPUs dirty, rmap_walk locked / lockless",
        lambda R, n: ratio(mean(gets(n, "locked-conc")), mean(gets(n, "lockless-conc"))),
        "%.2fx (%.1f ms -> %.1f ms)" % (SEED000[0] / SEED000[1], SEED000[0] / 1e6, SEED000[1] / 1e6))
    row("seed 000: vCPU faults completed per get, lockless / locked",
        lambda R, n: ratio(mean(during(n, "lockless-conc", 1)), mean(during(n, "locked-conc", 1))), "-")
    row("seed 000, eager_split=0, get in pass 1: get time, locked / lockless",
        lambda R, n: ratio(get(n, "locked-conc-noeager")["get"][0], get(n, "lockless-conc-noeager")["get"][0]),
        "%.2fx (migrate-perf's get, vCPUs faulting under mmu_lock)" % (SEED000[0] / SEED000[1]))
    row("seed 000, eager_split=0, get in pass 1: pages written during it, lockless / locked",
        lambda R, n: ratio(get(n, "lockless-conc-noeager")["during"][0][0],
                           max(get(n, "locked-conc-noeager")["during"][0][0], 1)), "-")
    row("dirty_log wp / pml: iteration 1 dirty memory time",
        lambda R, n: ratio(get(n, "eager-plain")["dirty"][1], get(n, "pml-plain")["dirty"][1]), "-")
    row("dirty_log wp / pml: iteration 2 dirty memory time",
        lambda R, n: ratio(get(n, "eager-plain")["dirty"][2], get(n, "pml-plain")["dirty"][2]), "-")
    row("dirty_log pml / wp: get dirty log time (avg)",
        lambda R, n: ratio(mean(get(n, "pml-plain")["get"].values()), mean(get(n, "eager-plain")["get"].values())),
        "-")

    print()
    print("dirty_log_perf_test in Bochs: %s MiB per vCPU, %d iterations; memstress vCPUs on CPUs 1..N, dlpt on CPU 0."
          % (a.mib, it))
    print("Ratios of emulated TSC cycles (compare these, not times); the seed's figure beside each, as its author "
          "measured it:")
    w = max(len(r[0]) for r in rows)
    print("%-*s %s  %s" % (w, "", "  ".join("%8s" % ("N=%d" % n) for n in a.vcpus), "seed"))
    for label, vals, anchor in rows:
        print("%-*s %s  %s" % (w, label, "  ".join("%7.2fx" % v for v in vals), anchor))

    # The figures behind the ratios, in emulated microseconds.
    print()
    print("The figures behind them (emulated us; per N: the two settings compared):")

    mhz = next(iter(results.values()))["mhz"] or 50.0

    def us(c):
        return c / mhz

    figs = [
        ("plain it.1 dirty memory, eager_split=0 | 1", lambda n: (get(n, "noeager-plain")["dirty"][1],
                                                            get(n, "eager-plain")["dirty"][1])),
        ("plain enabling logging, eager_split=1 | 0", lambda n: (get(n, "eager-plain")["enabling"],
                                                           get(n, "noeager-plain")["enabling"])),
        ("i-set it.2 dirty memory, eager_split=0 | 1", lambda n: (get(n, "noeager-iset")["dirty"][2],
                                                            get(n, "eager-iset")["dirty"][2])),
        ("i-set it.1 clear, eager_split=1 | 0", lambda n: (get(n, "eager-iset")["clear"][1],
                                                     get(n, "noeager-iset")["clear"][1])),
        ("i-set it.3 clear, eager_split=1 | 0", lambda n: (get(n, "eager-iset")["clear"][3],
                                                     get(n, "noeager-iset")["clear"][3])),
        ("concurrent get (avg), locked | lockless", lambda n: (mean(gets(n, "locked-conc")),
                                                         mean(gets(n, "lockless-conc")))),
        ("faults per get (avg), lockless | locked", None),
        ("pages written per get (avg), lockless | locked", None),
        ("eager_split=0 get in pass 1, locked | lockless", lambda n: (get(n, "locked-conc-noeager")["get"][0],
                                                                get(n, "lockless-conc-noeager")["get"][0])),
        ("  pages written during it, lockless | locked", None),
        ("  faults completed during it, lockless | locked", None),
        ("it.1 dirty memory, wp | pml", lambda n: (get(n, "eager-plain")["dirty"][1], get(n, "pml-plain")["dirty"][1])),
        ("it.2 dirty memory, wp | pml", lambda n: (get(n, "eager-plain")["dirty"][2], get(n, "pml-plain")["dirty"][2])),
        ("get dirty log (avg), pml | wp", lambda n: (mean(get(n, "pml-plain")["get"].values()),
                                               mean(get(n, "eager-plain")["get"].values()))),
    ]
    w = max(len(f[0]) for f in figs)
    print("%-*s %s" % (w, "", "  ".join("%21s" % ("N=%d" % n) for n in a.vcpus)))
    for label, fn in figs:
        cells = []
        for n in a.vcpus:
            if fn is None:
                col = 1 if "faults" in label else 0
                if label.startswith("  "):
                    x = get(n, "lockless-conc-noeager")["during"][0][col]
                    y = get(n, "locked-conc-noeager")["during"][0][col]
                else:
                    x, y = mean(during(n, "lockless-conc", col)), mean(during(n, "locked-conc", col))
                cells.append("%10.0f|%-10.0f" % (x, y))
            else:
                x, y = fn(n)
                cells.append("%10.0f|%-10.0f" % (us(x), us(y)))
        print("%-*s %s" % (w, label, "  ".join(cells)))


# ---------------------------------------------------------------------------
# The default live migration and the MMIO guest, one run per switch.

def migration_suite(a):
    runs = {}
    for name, cmdline, smp in (("eager-split", "eager_split=1", 2), ("no-eager-split", "eager_split=0", 2),
                               ("rmap-lockless", "rmap_walk=lockless", 2), ("rmap-locked", "rmap_walk=locked", 2),
                               ("dirty-log-pml", "dirty_log=pml", 2),
                               ("rmap-lockless-1cpu", "rmap_walk=lockless", 1),
                               ("rmap-locked-1cpu", "rmap_walk=locked", 1)):
        runs[name] = run(a.build_dir, name, cmdline, smp, migration(a.rounds, smp))
    for name, cmdline in (("mmio-gen", "mmio_zap=gen"), ("mmio-walk", "mmio_zap=walk")):
        runs[name] = run(a.build_dir, name, cmdline, 1, MMIO)

    print()
    print("%-18s %-8s %8s %12s %12s %7s %9s %10s %10s %11s" % ("run", "round", "dirtied", "harvest_cyc", "copy_cyc",
                                                            "splits", "wp_faults", "fast_fixes", "cyc/fault",
                                                            "pml_entries"))
    for name, rows in runs.items():
        for k, v in rows.items():
            if k in ("cost", "slot_change"):
                continue
            print("%-18s %-8s %8d %12d %12d %7d %9d %10d %10d %11d" % ((name, k) + tuple(v)))
    print()

    def first_interval(rows):
        v = rows["log-on"]
        return v[1], v[4], v[4] * v[6]   # enable cycles, faults, fault cycles

    e, l = first_interval(runs["eager-split"]), first_interval(runs["no-eager-split"])
    ec, lc = runs["eager-split"].get("cost", 0), runs["no-eager-split"].get("cost", 0)
    print("Eager split (seed 002), the source on its own CPU (anchor: 2.94 s -> 0.146 s of dirty memory time, 20.1x;")
    print("  the seed's 21.7x is its initially-set variant, 2.75 s -> 0.127 s):")
    print("  logging's cost to the source's first pass: eager %d cycles per page, eager_split=0 %d (%.1fx)"
          % (ec, lc, lc / max(ec, 1)))
    print("  enabling logging: eager %d cycles, eager_split=0 %d cycles (%.2fx)" % (e[0], l[0], e[0] / max(l[0], 1)))
    print("  the source's fault-handling cycles while logging was being enabled: eager %d (%d faults), "
          "eager_split=0 %d (%d faults); per fault eager %d, eager_split=0 %d (%.2fx)" % (e[2], e[1], l[2], l[1], e[2] / max(e[1], 1), l[2] / max(l[1], 1),
                                                    (l[2] / max(l[1], 1)) / max(e[2] / max(e[1], 1), 1)))
    print("Get-dirty-log with the dirtier running (seed 000), rounds 2-%d (anchor: 9.0 ms -> 4.8 ms, 1.87x):"
          % a.rounds)
    for suffix, where in (("", "2 CPUs, source on the other CPU"), ("-1cpu", "1 CPU, time-sliced")):
        hl, dl = steady_harvest(runs["rmap-lockless" + suffix])
        hk, dk = steady_harvest(runs["rmap-locked" + suffix])
        print("  %s: lockless rmap walk %.0f cycles for %.0f pages (%.0f per page); locked %.0f cycles for %.0f "
              "pages (%.0f per page): locked/lockless %.2fx"
              % (where, hl, dl, hl / max(dl, 1), hk, dk, hk / max(dk, 1), hk / max(hl, 1)))
    wp, pml = runs["rmap-lockless"], runs["dirty-log-pml"]
    hw, dw = steady_harvest(wp)
    hp, dp = steady_harvest(pml)
    fw = sum(v[4] for k, v in wp.items() if k.startswith("round ")) / max(sum(k.startswith("round ") for k in wp), 1)
    fp = sum(v[4] for k, v in pml.items() if k.startswith("round ")) / max(sum(k.startswith("round ") for k in pml), 1)
    ep = sum(v[7] for k, v in pml.items() if k.startswith("round ")) / max(sum(k.startswith("round ") for k in pml), 1)
    print("Dirty logging by PML vs write-protection (dirty_log=pml|wp), 2 CPUs:")
    print("  logging's cost to the source's first pass: wp %d cycles per page, pml %d (wp/pml %.1fx)"
          % (wp.get("cost", 0), pml.get("cost", 0), wp.get("cost", 0) / max(pml.get("cost", 1), 1)))
    print("  per round: wp %.0f write-protection faults, pml %.0f faults and %.0f log entries; harvest wp %.0f cycles "
          "for %.0f pages, pml %.0f cycles for %.0f pages (the pml harvest first kicks the source to drain its log)"
          % (fw, fp, ep, hw, dw, hp, dp))
    g, w = runs["mmio-gen"].get("slot_change", 0), runs["mmio-walk"].get("slot_change", 0)
    print("MMIO invalidation (seed 004), a 4 KiB slot created or deleted in the MMIO guest, 1 CPU:")
    print("  cycles per slot change: by generation %d, by walking every table %d (walk/gen %.2fx); the walk grows "
          "with the guest's tables, the generation does not (host figures at 10^3..10^6 SPTEs: tools/hv bench)"
          % (g, w, w / max(g, 1)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("HV_BUILD_DIR") or os.path.join(os.path.dirname(HERE), "build"))
    p.add_argument("--suite", choices=("all", "dlpt", "migration"), default="all")
    p.add_argument("--rounds", type=int, default=8, help="migration suite: pre-copy rounds")
    p.add_argument("--vcpus", default="1,2,3", help="dlpt suite: the memstress vCPU counts (at most 3)")
    p.add_argument("--mib", type=int, default=128, help="dlpt suite: test memory per vCPU, MiB (KVM's -b)")
    p.add_argument("--iterations", type=int, default=3, help="dlpt suite: KVM's -i (at least 3)")
    a = p.parse_args()
    a.vcpus = [int(x) for x in a.vcpus.split(",") if x]
    if not a.vcpus or min(a.vcpus) < 1 or max(a.vcpus) > 3:
        p.error("--vcpus: counts 1..3 (CPU 0 is dlpt's)")
    if a.iterations < 3:
        p.error("--iterations: at least 3 (seed 002's table has iteration 3)")
    if a.suite in ("all", "dlpt"):
        dlpt_suite(a)
    if a.suite in ("all", "migration"):
        migration_suite(a)


if __name__ == "__main__":
    main()
