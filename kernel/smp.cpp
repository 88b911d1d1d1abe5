#include "kernel/smp.h"

#include "arch/x86/acpi.h"
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/descriptor_tables.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "kernel/console.h"
#include "kernel/multiboot2.h"
#include "kernel/verdict.h"

extern "C" const uint8_t ap_trampoline_start[], ap_trampoline_end[], ap_trampoline_params[];
extern "C" [[noreturn]] void ap_entry(uint64_t index);

namespace hv {
namespace {
PerCpu cpus[kMaxCpus];
}  // namespace

PerCpu& percpu(unsigned cpu) { return cpus[cpu]; }

}  // namespace hv

namespace hv::smp {
namespace {

using x86::Msr;

// Where the trampoline runs: a page below 1 MiB (a SIPI names a page number
// below 0x100), inside the low memory the frame allocator never hands out.
// ap_trampoline.asm has the same number as TRAMP.
constexpr uint64_t kApTrampolinePhys = 0x8000;
constexpr uint8_t kSipiVector = uint8_t(kApTrampolinePhys >> 12);

// The INIT-SIPI-SIPI sequence (Intel SDM Vol. 3A, 9.4.4.1): INIT, 10 ms,
// SIPI, 200 us, SIPI, 200 us. Then how long an AP may take to reach the
// kernel, and to finish its set-up (VMXON included) once there.
constexpr uint64_t kInitDelayUs = 10'000;
constexpr uint64_t kSipiDelayUs = 200;
constexpr uint64_t kIpiDeliveryTimeoutUs = 1'000;
constexpr uint64_t kApAliveTimeoutUs = 100'000;
constexpr uint64_t kApSetupTimeoutUs = 1'000'000;

constexpr size_t kApStackSize = 16384;
alignas(16) uint8_t ap_stacks[kMaxCpus][kApStackSize];

// The parameter block at the end of the trampoline (ap_trampoline.asm).
struct TrampolineParams {
    uint64_t cr3, stack, entry, cpu;
};

unsigned online_count = 1;      // written by the BSP during start() only
unsigned madt_usable = 0;       // CPUs of the MADT this kernel could try to start
char no_smp_why[160];           // why the BSP runs alone, if it does
uint64_t bringup_us_total;      // INIT to Online, summed over the APs that came up
mm::FrameAllocator* ap_frames;  // for the APs' VMXON regions, used one AP at a time

template <typename T>
T load(const T& v) {
    return __atomic_load_n(&v, __ATOMIC_ACQUIRE);
}
template <typename T>
void store(T& v, T x) {
    __atomic_store_n(&v, x, __ATOMIC_RELEASE);
}

uint64_t us_since(uint64_t t0) { return (x86::rdtsc() - t0) * 1'000'000 / x86::tsc::hz(); }

// Spins until cpu's state is at least `want`, for at most timeout_us.
bool wait_state(PerCpu& c, CpuState want, uint64_t timeout_us) {
    uint64_t t0 = x86::rdtsc(), limit = x86::tsc::cycles_for_us(timeout_us);
    while (uint32_t(load(c.state)) < uint32_t(want)) {
        if (x86::rdtsc() - t0 > limit) return false;
        x86::pause();
    }
    return true;
}

// The AP's idle loop: run posted work with interrupts disabled, else halt
// with them enabled. STI's one-instruction shadow makes "sti; hlt" atomic: a
// kick that arrives after the check is taken at the HLT and wakes it.
[[noreturn]] void idle(PerCpu& me) {
    for (;;) {
        x86::cli();
        if (load(me.work.state) == WorkState::Posted) {
            me.work.fn(me.work.arg);
            __atomic_add_fetch(&me.work.done, 1, __ATOMIC_RELEASE);
            store(me.work.state, WorkState::Free);
            continue;
        }
        asm volatile("sti; hlt" ::: "memory");
    }
}

// INIT-SIPI-SIPI to one AP, which is to become CPU `index`. Returns true when
// it came online; otherwise it has been sent INIT again (back to
// wait-for-SIPI) so that it cannot wake later on a stack that is reused.
bool start_ap(unsigned index, uint32_t apic_id) {
    PerCpu& c = cpus[index];
    c = PerCpu{};
    c.self = &c;
    c.index = index;
    c.apic_id = apic_id;
    c.stack_top = uint64_t(&ap_stacks[index][kApStackSize]);
    store(c.state, CpuState::Starting);

    auto* params = x86::phys_to_virt<TrampolineParams>(kApTrampolinePhys +
                                                       uint64_t(ap_trampoline_params - ap_trampoline_start));
    *params = TrampolineParams{x86::kernel_cr3(), c.stack_top, uint64_t(&ap_entry), index};
    asm volatile("" ::: "memory");

    uint64_t t0 = x86::rdtsc(), t_sipi = 0;
    x86::apic::send_ipi(apic_id, x86::apic::Delivery::Init);
    bool delivered = x86::apic::wait_delivery(kIpiDeliveryTimeoutUs);
    x86::tsc::delay_us(kInitDelayUs);
    for (int i = 0; i < 2; ++i) {
        if (i == 0) t_sipi = x86::rdtsc();
        x86::apic::send_ipi(apic_id, x86::apic::Delivery::StartUp, kSipiVector);
        delivered &= x86::apic::wait_delivery(kIpiDeliveryTimeoutUs);
        x86::tsc::delay_us(kSipiDelayUs);
    }
    if (!wait_state(c, CpuState::Alive, kApAliveTimeoutUs)) {
        x86::apic::send_ipi(apic_id, x86::apic::Delivery::Init);
        x86::apic::wait_delivery(kIpiDeliveryTimeoutUs);
        store(c.state, CpuState::Failed);
        print("smp: CPU with APIC ID %u did not reach the kernel within %lu ms of INIT-SIPI-SIPI%s: left out\n",
              apic_id, kApAliveTimeoutUs / 1000, delivered ? "" : " (an IPI was never accepted)");
        return false;
    }
    if (!wait_state(c, CpuState::Online, kApSetupTimeoutUs)) {
        store(c.state, CpuState::Failed);
        print("smp: CPU %u (APIC ID %u) entered the kernel but did not finish its set-up within %lu ms\n", index,
              apic_id, kApSetupTimeoutUs / 1000);
        return false;
    }
    uint64_t us = us_since(t0), after_sipi = us_since(t_sipi);
    bringup_us_total += us;
    print("smp: CPU %u (APIC ID %u) online in %lu us (%lu us after its first SIPI), VMX %s%s\n", index, apic_id,
          us, after_sipi, c.vmx_on ? "on" : "off: ", c.vmx_on ? "" : c.vmx_why);
    return true;
}

bool same_controls(const vmx::Controls& a, const vmx::Controls& b) {
    return a.pin == b.pin && a.proc == b.proc && a.proc2 == b.proc2 && a.exit == b.exit && a.entry == b.entry &&
           a.cr0_fixed0 == b.cr0_fixed0 && a.cr0_fixed1 == b.cr0_fixed1 && a.cr4_fixed0 == b.cr4_fixed0 &&
           a.cr4_fixed1 == b.cr4_fixed1 && a.vmcs_revision == b.vmcs_revision && a.ept_caps == b.ept_caps;
}

}  // namespace

// The trampoline's 64-bit code calls this on the AP's own stack.
extern "C" [[noreturn]] void ap_entry(uint64_t index) {
    PerCpu& me = cpus[index];
    store(me.state, CpuState::Alive);  // the trampoline's parameter block may be reused now
    x86::load_descriptor_tables(unsigned(index));
    x86::wrmsr(Msr::IA32_GS_BASE, uint64_t(&me));
    x86::apic::init_ap();
    // The BSP waits for this CPU, so the frame allocator has one user.
    me.vmx_on = vmx::enable(*ap_frames, me.vmx_controls, me.vmx_why, sizeof me.vmx_why);
    store(me.state, CpuState::Online);
    idle(me);
}

void start(const mb2::BootInfo& boot, mm::FrameAllocator& frames) {
    PerCpu& bsp = cpus[0];
    bsp.self = &bsp;
    bsp.index = 0;
    store(bsp.state, CpuState::Online);
    x86::wrmsr(Msr::IA32_GS_BASE, uint64_t(&bsp));
    online_count = 1;

    if (x86::tsc::calibrate())
        print("smp: TSC %lu.%03lu MHz (measured against PIT channel 2)\n", x86::tsc::hz() / 1'000'000,
              x86::tsc::hz() / 1000 % 1000);
    else
        print("smp: the PIT's channel 2 never counted down: assuming a %lu MHz TSC, so delays run long\n",
              x86::tsc::hz() / 1'000'000);

    x86::acpi::Madt madt;
    if (!x86::acpi::find_madt(boot, madt, no_smp_why, sizeof no_smp_why)) {
        print("smp: %s: running on the BSP alone\n", no_smp_why);
        return;
    }
    if (!x86::apic::init_bsp(madt.lapic_base, no_smp_why, sizeof no_smp_why)) {
        print("smp: %s: running on the BSP alone\n", no_smp_why);
        return;
    }
    bsp.apic_id = x86::apic::id();
    bool xapic = x86::apic::mode() == x86::apic::Mode::XApic;
    print("smp: MADT lists %u CPUs%s; local APIC in %s mode, BSP APIC ID %u\n", madt.cpu_count,
          madt.cpus_left_out ? " (more left out: kMaxCpus)" : "", x86::apic::mode_name(), bsp.apic_id);

    bool bsp_listed = false;
    madt_usable = 0;
    for (unsigned i = 0; i < madt.cpu_count; ++i) {
        uint32_t id = madt.cpus[i].apic_id;
        if (id == bsp.apic_id) bsp_listed = true;
        else if (xapic && id > 0xfe)
            print("smp: APIC ID %u cannot be reached in xAPIC mode: left out\n", id);
        else
            ++madt_usable;
    }
    ++madt_usable;  // the BSP
    if (!bsp_listed) print("smp: warning: the BSP's APIC ID %u is not in the MADT\n", bsp.apic_id);

    size_t blob = size_t(ap_trampoline_end - ap_trampoline_start);
    if (!x86::map_physical(kApTrampolinePhys, 4096, x86::Cache::WriteBack) ||
        !x86::map_identity_page(kApTrampolinePhys) || blob > 4096) {
        format(no_smp_why, sizeof no_smp_why, "cannot place the AP trampoline at 0x%lx", kApTrampolinePhys);
        print("smp: %s: running on the BSP alone\n", no_smp_why);
        return;
    }
    auto* dst = x86::phys_to_virt<uint8_t>(kApTrampolinePhys);
    for (size_t i = 0; i < blob; ++i) dst[i] = ap_trampoline_start[i];
    ap_frames = &frames;
    for (unsigned i = 0; i < madt.cpu_count && online_count < kMaxCpus; ++i) {
        uint32_t id = madt.cpus[i].apic_id;
        if (id == bsp.apic_id || (xapic && id > 0xfe)) continue;
        if (start_ap(online_count, id)) ++online_count;
    }
    // The APs run on the kernel's tables from here on. Their TLBs may still
    // hold the trampoline page; nothing else is ever mapped at that address.
    x86::unmap_identity_page(kApTrampolinePhys);
    print("smp: %u of %u CPUs online", online_count, madt_usable);
    if (online_count > 1) print(", AP bring-up %lu us on average (INIT to online)", bringup_us_total / (online_count - 1));
    print("\n");
}

unsigned cpu_count() { return online_count; }

unsigned current_cpu() { return this_cpu()->index; }

bool run_on(unsigned cpu, WorkFn fn, void* arg) {
    if (cpu >= online_count || load(cpus[cpu].state) != CpuState::Online) return false;
    if (cpu == current_cpu()) {
        fn(arg);
        return true;
    }
    WorkSlot& w = cpus[cpu].work;
    for (;;) {
        WorkState expected = WorkState::Free;
        if (__atomic_compare_exchange_n(&w.state, &expected, WorkState::Claimed, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            break;
        x86::pause();
    }
    w.fn = fn;
    w.arg = arg;
    store(w.state, WorkState::Posted);
    kick(cpu);
    return true;
}

bool wait(unsigned cpu, uint64_t timeout_us) {
    if (cpu >= online_count) return true;
    uint64_t t0 = x86::rdtsc(), limit = x86::tsc::cycles_for_us(timeout_us);
    while (load(cpus[cpu].work.state) != WorkState::Free) {
        if (x86::rdtsc() - t0 > limit) return false;
        x86::pause();
    }
    return true;
}

void kick(unsigned cpu) {
    if (cpu >= online_count) return;
    x86::apic::send_ipi(cpus[cpu].apic_id, x86::apic::Delivery::Fixed, x86::apic::kVectorKick);
}

void on_kick() { __atomic_add_fetch(&this_cpu()->kicks, 1, __ATOMIC_RELAXED); }

void take_pending_interrupts() { asm volatile("sti; nop; cli" ::: "memory"); }

bool check_vmx_controls(const vmx::Controls& bsp) {
    bool ok = true;
    for (unsigned i = 1; i < online_count; ++i) {
        const PerCpu& c = cpus[i];
        if (!c.vmx_on) {
            print("smp: CPU %u (APIC ID %u) has no VMX: %s\n", i, c.apic_id, c.vmx_why);
            ok = false;
        } else if (!same_controls(c.vmx_controls, bsp)) {
            const vmx::Controls& a = c.vmx_controls;
            print("smp: CPU %u VMX controls differ from the BSP's: pin %x/%x proc %x/%x proc2 %x/%x exit %x/%x "
                  "entry %x/%x ept %lx/%lx revision %u/%u\n",
                  i, a.pin, bsp.pin, a.proc, bsp.proc, a.proc2, bsp.proc2, a.exit, bsp.exit, a.entry, bsp.entry,
                  a.ept_caps, bsp.ept_caps, a.vmcs_revision, bsp.vmcs_revision);
            ok = false;
        }
    }
    return ok;
}

// ---------------------------------------------------------------------------
// selftest=smp

namespace {

struct Probe {
    unsigned index;       // this_cpu()->index as seen there
    uint32_t apic_id;     // apic::id() as read there
    uint64_t rsp;         // a stack address there
    uint64_t gs_base;     // IA32_GS_BASE there
};

void probe(void* arg) {
    auto* p = static_cast<Probe*>(arg);
    uint64_t rsp;
    asm volatile("movq %%rsp, %0" : "=r"(rsp));
    *p = Probe{this_cpu()->index, x86::apic::id(), rsp, x86::rdmsr(Msr::IA32_GS_BASE)};
}

void kick_bsp(void*) { kick(0); }

// Many CPUs at once on one cache line: the total proves that the APs ran the
// posted work in parallel without losing an update.
constexpr unsigned kHammerAdds = 10'000;
uint64_t hammer_total;
void hammer(void* arg) {
    for (unsigned i = 0; i < kHammerAdds; ++i) __atomic_add_fetch(&hammer_total, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(static_cast<uint64_t*>(arg), 1, __ATOMIC_RELAXED);
}

struct KickArgs {
    unsigned target;
};
void kick_other(void* arg) { kick(static_cast<KickArgs*>(arg)->target); }

constexpr uint64_t kSelfTestTimeoutUs = 1'000'000;

void test_bringup() {
    const char* name = "smp: bring-up";
    if (no_smp_why[0]) return report_fail(name, "%s", no_smp_why);
    if (online_count < madt_usable)
        return report_fail(name, "%u of the MADT's %u CPUs online", online_count, madt_usable);
    report_pass(name, "%u of %u CPUs online, %s, AP bring-up %lu us on average (TSC %lu kHz)", online_count,
                madt_usable, x86::apic::mode_name(), online_count > 1 ? bringup_us_total / (online_count - 1) : 0,
                x86::tsc::hz() / 1000);
}

void test_vmx(mm::FrameAllocator& frames) {
    const char* name = "smp: vmxon on every CPU";
    vmx::Controls bsp;
    char why[160];
    if (!vmx::enable(frames, bsp, why, sizeof why)) {
        // No VMX at all (QEMU's TCG): a missing feature, not a failure.
        if (!(x86::cpuid(1).ecx & (1u << 5))) return report_skip(name, "%s", why);
        return report_fail(name, "BSP: %s", why);
    }
    if (!check_vmx_controls(bsp)) return report_fail(name, "an AP lacks VMX or differs in its controls (above)");
    report_pass(name, "%u CPUs in VMX root operation, each with its own VMXON region, identical controls",
                online_count);
}

void test_run_on() {
    const char* name = "smp: run_on";
    if (online_count < 2) return report_skip(name, "only one CPU online");
    for (unsigned i = 1; i < online_count; ++i) {
        Probe p{~0u, ~0u, 0, 0};
        if (!run_on(i, probe, &p)) return report_fail(name, "CPU %u refused the work", i);
        if (!wait(i, kSelfTestTimeoutUs)) return report_fail(name, "CPU %u did not run its work within 1 s", i);
        const PerCpu& c = cpus[i];
        if (p.index != i || p.apic_id != c.apic_id || p.gs_base != uint64_t(&c))
            return report_fail(name, "CPU %u ran it as index %u, APIC ID %u, GS base %lx", i, p.index, p.apic_id,
                               p.gs_base);
        if (p.rsp > c.stack_top || p.rsp < c.stack_top - kApStackSize)
            return report_fail(name, "CPU %u ran it on rsp %lx, outside its own stack", i, p.rsp);
    }
    report_pass(name, "each of the %u APs ran a posted function on its own stack, with its own GS base and APIC ID",
                online_count - 1);
}

// Round after round, work posted to every AP before waiting for any: the
// slot protocol under back-to-back posts, with the APs running concurrently.
void test_run_on_stress() {
    const char* name = "smp: run_on broadcast";
    if (online_count < 2) return report_skip(name, "only one CPU online");
    constexpr unsigned kRounds = 100;
    uint64_t rounds_run = 0, done_before[kMaxCpus];
    hammer_total = 0;
    for (unsigned i = 1; i < online_count; ++i) done_before[i] = load(cpus[i].work.done);
    uint64_t t0 = x86::rdtsc();
    for (unsigned r = 0; r < kRounds; ++r) {
        for (unsigned i = 1; i < online_count; ++i) run_on(i, hammer, &rounds_run);
        for (unsigned i = 1; i < online_count; ++i)
            if (!wait(i, kSelfTestTimeoutUs)) return report_fail(name, "CPU %u stuck in round %u", i, r);
    }
    uint64_t cycles = x86::rdtsc() - t0;
    uint64_t aps = online_count - 1;
    for (unsigned i = 1; i < online_count; ++i)
        if (load(cpus[i].work.done) - done_before[i] != kRounds)
            return report_fail(name, "CPU %u ran %lu functions, not %u", i, load(cpus[i].work.done) - done_before[i],
                               kRounds);
    if (load(rounds_run) != kRounds * aps || load(hammer_total) != kRounds * aps * kHammerAdds)
        return report_fail(name, "%lu functions and %lu atomic adds, expected %lu and %lu", load(rounds_run),
                           load(hammer_total), kRounds * aps, kRounds * aps * kHammerAdds);
    report_pass(name, "%u rounds on %lu APs at once, %lu atomic adds all counted, %lu TSC cycles per round", kRounds,
                aps, load(hammer_total), cycles / kRounds);
}

void test_ipi() {
    const char* name = "smp: ipi";
    if (online_count < 2) return report_skip(name, "only one CPU online");
    for (unsigned i = 1; i < online_count; ++i) {
        PerCpu& c = cpus[i];
        uint64_t before = load(c.kicks);
        kick(i);
        uint64_t t0 = x86::rdtsc(), limit = x86::tsc::cycles_for_us(kSelfTestTimeoutUs);
        while (load(c.kicks) == before) {
            if (x86::rdtsc() - t0 > limit) return report_fail(name, "CPU %u took no kick within 1 s", i);
            x86::pause();
        }
        // And back: the AP kicks the BSP, which waits with interrupts enabled.
        uint64_t mine = load(cpus[0].kicks);
        run_on(i, kick_bsp, nullptr);
        t0 = x86::rdtsc();
        asm volatile("sti" ::: "memory");
        while (load(cpus[0].kicks) == mine && x86::rdtsc() - t0 <= limit) x86::pause();
        x86::cli();
        wait(i, kSelfTestTimeoutUs);
        if (load(cpus[0].kicks) == mine) return report_fail(name, "the BSP took no kick from CPU %u within 1 s", i);
    }
    // AP to AP, when there are two of them: CPU 1 kicks each other AP.
    unsigned ap_to_ap = 0;
    for (unsigned i = 2; i < online_count; ++i) {
        uint64_t before = load(cpus[i].kicks);
        KickArgs a{i};
        run_on(1, kick_other, &a);
        wait(1, kSelfTestTimeoutUs);
        uint64_t t0 = x86::rdtsc(), limit = x86::tsc::cycles_for_us(kSelfTestTimeoutUs);
        while (load(cpus[i].kicks) == before) {
            if (x86::rdtsc() - t0 > limit) return report_fail(name, "CPU %u took no kick from CPU 1 within 1 s", i);
            x86::pause();
        }
        ++ap_to_ap;
    }
    report_pass(name,
                "the BSP kicked each of the %u APs, each AP kicked the BSP, CPU 1 kicked %u other APs (vector 0x%x, "
                "EOI, return)",
                online_count - 1, ap_to_ap, x86::apic::kVectorKick);
}

}  // namespace

void self_test(mm::FrameAllocator& frames) {
    test_bringup();
    test_run_on();
    test_run_on_stress();
    test_ipi();
    test_vmx(frames);
    end_run();
}

}  // namespace hv::smp
