#!/usr/bin/env python3
"""tools/hv perf: dirty_log_perf_test-style runs in Bochs, one per run-time
switch setting, each the default live migration on two CPUs (the dirtier on
CPU 0 writing continuously, the migrator harvesting from CPU 1). Prints the
migrator's rows for each run and the ratios between the settings, all taken
from emulated TSC cycles: compare ratios, never absolute times.

Usage: tools/perf.py [--build-dir DIR] [--rounds N] [--quick]
"""

import argparse
import os
import re
import subprocess
import sys

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


def run(build, name, cmdline, smp, guests):
    cmd = [sys.executable, RUN, "--emu", "bochs", "--build-dir", build, "--smp", str(smp), "--quiet",
           "--timeout", "300", "--name", "perf-" + name] + guests
    if cmdline:
        cmd += ["--cmdline", cmdline]
    print("perf: %-22s ..." % name, end="", flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    console = os.path.join(build, "runs", "perf-" + name, "console.log")
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
    print(" %s" % ("ok" if r.returncode == 0 else "FAILED (see %s)" % console))
    if r.returncode != 0:
        sys.stdout.write(r.stdout[-3000:])
        sys.exit(1)
    return rows


def steady_harvest(rows):
    """Mean harvest cycles and dirty pages of rounds 2.. (round 1 still pays
    for the first full copy's faults)."""
    rs = [v for k, v in rows.items() if k.startswith("round ") and int(k[6:]) >= 2]
    if not rs:
        return 0, 0
    return sum(v[1] for v in rs) / len(rs), sum(v[0] for v in rs) / len(rs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("HV_BUILD_DIR") or os.path.join(os.path.dirname(HERE), "build"))
    p.add_argument("--rounds", type=int, default=8)
    a = p.parse_args()

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


if __name__ == "__main__":
    main()
