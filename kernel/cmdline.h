// The kernel command line, parsed strictly: an unknown word, a malformed value
// or a table that would overflow is an error with a message, never ignored.
//
//   loglevel=error|warn|info|debug
//   selftest=null_deref   after boot, read through a null pointer: proves that page 0
//                         is unmapped and that the exception path reports and fails
//   selftest=smp          after SMP bring-up, check every CPU (online, VMXON, posted
//                         work, IPIs) and end the run, before the BSP's VMX check
//   selftest=hung_cpu     after SMP bring-up, make CPU 1 stop answering and flush it:
//                         the run must end naming it (the cross-CPU deadline, kernel/stall.h)
//   eager_split=1|0       split huge mappings when logging starts (0: a write fault drops one)
//   rmap_walk=lockless|locked   write-protection walks the rmap without or under the MMU lock
//   mmio_zap=gen|walk     invalidate MMIO SPTEs by generation or by walking every table
//   dirty_log=wp|pml      log dirty pages by write-protection faults or by EPT D bits and
//                         the processor's page-modification log (PML)
//   test_dirty_before_spte=1  TEST ONLY, deliberately broken: the dirty bit is set before
//                         the SPTE is writable and in the rmap (a migration must catch it)
//   guest=NAME[:KEY=VALUE[,KEY=VALUE...]]     (repeatable; run in this order)
//       mem=MIB       the guest's memory slot, 2..1024 MiB, 2 MiB multiples (default 16)
//       expect=OUTCOME  how the guest's run must end (default exit): see guest_outcome.h
//       role=control  the control guest: may use the privileged hypercalls
//       image=NAME|none  the module to load (default: the guest's name); none: empty memory
//       start=paused  created paused, to be resumed by the control guest
//       dirty_log=manual|initially_set   manual protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
//                     optionally with every bit initially set
//       cpu=N         the CPU it runs on (default 0)
//       vcpus=N       its vCPUs, 1..HV_MAX_VCPUS (default 1; a Linux guest has one)
//       cpus=A-B      where its vCPUs run: vCPU i on CPU A + i mod (B-A+1), each
//                     time-sliced with whatever else runs there (instead of cpu=;
//                     without either, every vCPU runs on CPU 0)
//       mmio_gen_start=N  start its memslot generation at N (to reach the MMIO wrap-around)
//     A guest whose image is a Linux bzImage (docs/linux-guest.md) boots through the
//     Linux boot protocol on a PC platform (8259, 8254, 16550, CMOS, 8042); for it:
//       cmdline="..."  its kernel command line (default kLinuxCmdline below); the
//                     double quotes keep spaces and commas in one value
//       initrd=NAME|none  the module loaded as its initrd (default initramfs, if present)
//     and mem= defaults to 128 MiB, expect= to reset.
//       any other KEY=VALUE is passed to the guest in hv_guest_boot.args
//
// Without a guest= word the default scenario runs, a local live migration:
//   guest=src:image=dirtier,expect=stopped,cpu=0
//   guest=dst:image=none,start=paused,expect=stopped,cpu=0
//   guest=migrator:role=control,src=0,dst=1,cpu=1
// (the kernel moves the migrator to CPU 0 when only one CPU is online).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "include/hv/hypercall.h"
#include "kernel/console.h"
#include "kernel/guest_outcome.h"
#include "kernel/limits.h"
#include "mm/mmu.h"

namespace hv::cmdline {

inline constexpr uint64_t kDefaultGuestMemMib = 16;
inline constexpr uint64_t kDefaultLinuxMemMib = 128;
inline constexpr size_t kGuestCmdlineMax = 512;
// What a Linux guest's command line is by default (../shared/linux-guest.md's
// fast one: no ACPI, PCI or crypto self-tests; the console on the 16550).
// tsc=reliable: guests run on the real TSC (no offsetting, its rate in CPUID
// 0x15), while their 8254 ticks are coalesced when they are descheduled;
// without it Linux's clocksource watchdog, comparing the TSC with jiffies
// counted from those ticks, marks the TSC unstable when the guest shares its
// CPU and falls back to jiffies (system test linux-beside-a-cpu-hog). KVM and
// VMware guests are told the same, by kvmclock and TSC_RELIABLE.
inline constexpr const char* kLinuxCmdline =
    "console=ttyS0,115200 quiet cryptomgr.notests acpi=off pci=off nokaslr mitigations=off 8250.nr_uarts=1 "
    "io_delay=none tsc=reliable";
inline constexpr uint64_t kMaxGuestMemMib = 1024;

struct GuestSpec {
    char name[HV_GUEST_NAME_MAX];
    char args[HV_GUEST_ARGS_MAX];  // what the guest sees: the keys the kernel does not take
    char image[HV_GUEST_NAME_MAX];  // "" for an empty guest (image=none)
    uint64_t mem_mib;               // 0: the default (kDefaultGuestMemMib, or kDefaultLinuxMemMib)
    char cmdline[kGuestCmdlineMax];  // a Linux guest's command line; "" with has_cmdline false: the default
    bool has_cmdline;
    char initrd[HV_GUEST_NAME_MAX];  // a Linux guest's initrd module; "" with has_initrd: none
    bool has_initrd;
    Outcome expect;
    bool has_expect;  // expect= given (a Linux guest's default is reset, not exit)
    bool control;
    bool start_paused;
    bool manual_protect, initially_set;
    uint64_t mmio_gen_start;  // the memslot generation it starts at (tests of the wrap)
    unsigned cpu;             // its first CPU (cpu= or cpus=A-)
    unsigned cpu_span;        // its CPUs: [cpu, cpu + cpu_span)
    unsigned vcpus;

    // The CPU that runs vCPU i.
    unsigned vcpu_cpu(unsigned i) const { return cpu + i % cpu_span; }
};

enum class SelfTest : uint8_t { None, NullDeref, Smp, HungCpu };

struct Config {
    LogLevel log_level;
    mm::MmuSwitches mmu_switches;
    SelfTest self_test;
    GuestSpec guests[kMaxGuests];
    size_t guest_count;
    bool default_scenario;  // no guest= word: the guests above
};

// Parses `line` (NUL-terminated) into out. Returns true on success; on failure
// writes a one-line reason into err (err_size bytes) and out is unspecified.
bool parse(const char* line, Config& out, char* err, size_t err_size);

// Parses one guest's description, the value of a guest= word (n bytes, no
// NUL needed): what HV_HC_CREATE_GUEST takes too.
bool parse_guest(const char* spec, size_t n, GuestSpec& out, char* err, size_t err_size);

}  // namespace hv::cmdline
