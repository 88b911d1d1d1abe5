#include "kernel/guests.h"

#include "arch/x86/cpu.h"
#include "include/hv/hypercall.h"
#include "kernel/format.h"
#include "kernel/guest_audit.h"
#include "kernel/mmu_platform.h"
#include "kernel/multiboot2.h"
#include "kernel/percpu.h"
#include "kernel/scheduler.h"
#include "kernel/smp.h"
#include "kernel/serving_lock.h"
#include "kernel/spinlock.h"
#include "kernel/stall.h"
#include "kernel/tlb.h"
#include "kernel/verdict.h"
#include "kernel/vm_table.h"
#include "mm/frame_allocator.h"

namespace hv::guests {
namespace {

const mb2::BootInfo* boot_info;
const vmx::Controls* vmx_controls;
mm::MmuSwitches mmu_switches;
Scheduler schedulers[kMaxCpus];
// A ServingLock: a failed launch destroys its VM under it, and that waits
// for a grace period (kernel/serving_lock.h).
// Ids and the VM table, against two launches at once. A ServingLock: a failed
// launch destroys its VM under it, which waits for a grace period.
ServingLock launch_lock;
// Placing guests' vCPUs on the schedulers, and the end of new guests once
// the verdict is known.
SpinLock place_lock;
bool verdict_said;  // place_lock

// Every vCPU of vm to its CPU's scheduler and the guest published (0), or
// nothing (-EBUSY: the run is ending; -ENOSPC: no room; with the reason):
// under place_lock and the add locks of every scheduler that gets one,
// taken in CPU order.
int place(Vm& vm, char* why, size_t n) {
    LockGuard g(place_lock);
    // A guest created after the sweep of verdict_known() would escape it.
    if (verdict_said) {
        format(why, n, "the run's verdict is known: no new guests");
        return -HV_EBUSY;
    }
    unsigned wanted[kMaxCpus] = {};
    for (unsigned i = 0; i < vm.vcpu_count(); ++i) ++wanted[vm.vcpu(i).cpu()];
    for (unsigned cpu = 0; cpu < kMaxCpus; ++cpu)
        if (wanted[cpu]) schedulers[cpu].add_lock().lock();
    int e = 0;
    for (unsigned cpu = 0; cpu < kMaxCpus && !e; ++cpu) {
        if (!wanted[cpu] || wanted[cpu] <= schedulers[cpu].room()) continue;
        if (schedulers[cpu].closed()) {
            format(why, n, "CPU %u runs no more guests: every guest it had has ended", cpu);
            e = -HV_EBUSY;
        } else {
            format(why, n, "CPU %u has no room for %u more vCPUs (kMaxGuests %u per CPU, stopped ones included)", cpu,
                   wanted[cpu], kMaxGuests);
            e = -HV_ENOSPC;
        }
    }
    if (!e) {
        for (unsigned i = 0; i < vm.vcpu_count(); ++i) schedulers[vm.vcpu(i).cpu()].add(&vm.vcpu(i));
        vm_table::publish(&vm);  // only now can another guest's hypercall find it
    }
    for (unsigned cpu = 0; cpu < kMaxCpus; ++cpu)
        if (wanted[cpu]) schedulers[cpu].add_lock().unlock();
    return e;
}

void run_scheduler(void* s) { static_cast<Scheduler*>(s)->run(); }

bool cpu_in_vmx(unsigned cpu) { return cpu < smp::cpu_count() && (cpu == 0 || percpu(cpu).vmx_on); }

}  // namespace

void init(const mb2::BootInfo& boot, const vmx::Controls& controls, const mm::MmuSwitches& switches) {
    boot_info = &boot;
    vmx_controls = &controls;
    mmu_switches = switches;
}

int free_id() {
    for (unsigned id = 0; id < kMaxGuests; ++id)
        if (!vm_table::taken(id)) return int(id);
    return -1;
}

int launch(unsigned id, const cmdline::GuestSpec& spec, char* why, size_t n) {
    const mb2::Module* image = spec.image[0] ? mb2::find_module(*boot_info, spec.image) : nullptr;
    if (spec.image[0] && !image) {
        format(why, n, "no guest image named '%s' among the boot modules", spec.image);
        return -HV_ENOENT;
    }
    // Its PC platform and its boot protocol are a uniprocessor's (no local
    // APIC, no MP table): a Linux guest has one vCPU.
    if (Vm::is_linux_image(image) && spec.vcpus > 1) {
        format(why, n, "a Linux guest has one vCPU (vcpus=%u)", spec.vcpus);
        return -HV_EINVAL;
    }
    for (unsigned i = 0; i < spec.vcpus; ++i)
        if (unsigned cpu = spec.vcpu_cpu(i); !cpu_in_vmx(cpu)) {
            format(why, n, "CPU %u (of vCPU %u) is not online in VMX operation (%u CPUs online)", cpu, i,
                   smp::cpu_count());
            return -HV_EINVAL;
        }
    Vm* vm;
    {
        ServingGuard g(launch_lock);
        vm = vm_table::create(id, spec, *vmx_controls, mmu_switches);
    }
    if (!vm) {
        format(why, n, "guest id %u is taken", id);
        return -HV_EEXIST;
    }
    // A Linux guest's initrd: initrd=NAME, or the initramfs module if the ISO has one.
    const mb2::Module* initrd = nullptr;
    if (Vm::is_linux_image(image)) {
        const char* name = spec.has_initrd ? spec.initrd : "initramfs";
        if (name[0]) initrd = mb2::find_module(*boot_info, name);
        if (spec.has_initrd && name[0] && !initrd) {
            format(why, n, "no initrd module named '%s' among the boot modules", name);
            ServingGuard g(launch_lock);
            vm_table::destroy(vm);
            return -HV_ENOENT;
        }
    }
    if (!vm->create(image, initrd, why, n)) {
        ServingGuard g(launch_lock);
        vm_table::destroy(vm);
        return -HV_ENOSPC;
    }
    // Said before the scheduler may run it (its console lines come after),
    // and only for a guest that has everything it needs to start.
    char cpus[32];
    if (spec.cpu_span == 1)
        format(cpus, sizeof cpus, "CPU %u", spec.cpu);
    else
        format(cpus, sizeof cpus, "CPUs %u-%u", spec.cpu, spec.cpu + spec.cpu_span - 1);
    char vcpus[16] = "";
    if (vm->vcpu_count() > 1) format(vcpus, sizeof vcpus, "%u vCPUs, ", vm->vcpu_count());
    print("guest %u %s: %lu MiB, image %s, args '%s'%s%s, %s%s, expect %s\n", id, spec.name, vm->spec().mem_mib,
          spec.image[0] ? spec.image : "none", spec.args, spec.control ? ", control" : "",
          spec.start_paused ? ", paused" : "", vcpus, cpus, outcome_name(vm->spec().expect));
    if (int e = place(*vm, why, n); e) {
        print("guest %u %s: not started: %s\n", id, spec.name, why);
        // Outside every spinlock: the MMU's teardown waits for a grace
        // period, which a CPU spinning on one would never give.
        ServingGuard g(launch_lock);
        vm_table::destroy(vm);
        return e;
    }
    return 0;
}

void verdict_known(const Vm& by) {
    // Under place_lock: a guest being placed is published before the sweep
    // below, or is refused.
    {
        LockGuard g(place_lock);
        if (verdict_said) return;
        verdict_said = true;
    }
    print("hv: guest %s ended %s, expected %s: the run fails, so the other guests are stopped\n", by.name(),
          outcome_name(by.outcome()), outcome_name(by.spec().expect));
    for (unsigned id = 0; id < kMaxGuests; ++id)
        if (Vm* vm = vm_table::get(id); vm && vm != &by && !vm->stopped()) vm->request_stop();
}

void run(const cmdline::Config& config, mm::FrameAllocator& frames) {
    size_t free_before = frames.free_frames();
    // The guests of the command line are one scenario: ids name each other
    // (src=0,dst=1) and a control guest may be the only one that ever stops
    // another. Without all of them the verdict is known, FAIL, and running
    // the rest could only hang (a source that only its migrator stops).
    bool all_started = true;
    for (size_t i = 0; i < config.guest_count; ++i) {
        char why[160], test[64];
        if (launch(unsigned(i), config.guests[i], why, sizeof why)) {
            format(test, sizeof test, "%s: start", config.guests[i].name);
            report_fail(test, "%s", why);
            all_started = false;
        }
    }
    if (!all_started) end_run();
    if (!vmx_controls->preemption_timer) print("hv: no VMX-preemption timer: guests of a CPU run one after the other\n");
    // Every CPU in VMX operation schedules, even with no guest yet: the
    // control guest may create one there.
    uint64_t t0 = x86::rdtsc();
    for (unsigned cpu = 1; cpu < smp::cpu_count(); ++cpu)
        if (cpu_in_vmx(cpu)) smp::run_on(cpu, run_scheduler, &schedulers[cpu]);
    schedulers[0].run();
    // The others may run guests for as long as those like; while they do,
    // each must keep answering (a flush round trip within the deadline).
    for (unsigned cpu = 1; cpu < smp::cpu_count(); ++cpu)
        if (cpu_in_vmx(cpu))
            while (!smp::wait(cpu, stall::kDeadlineMs * 1000)) tlb::flush_cpu(cpu, "the liveness probe of CPU 0");
    print("hv: all guests stopped after %lu TSC cycles\n", x86::rdtsc() - t0);

    for (unsigned id = 0; id < kMaxGuests; ++id)
        if (Vm* vm = vm_table::get(id)) audit_guest(*vm, vm->outcome(), vm->spec().expect);
    // Windows into other guests' memory end with their owners: destroy only
    // once every audit is done; then let the epoch free what the MMUs deferred.
    for (unsigned id = 0; id < kMaxGuests; ++id)
        if (Vm* vm = vm_table::get(id)) vm_table::destroy(vm);
    // The descriptor cache is shared and type-stable: it may keep pages for
    // the next VM, which is not a leak; every descriptor must be free.
    mm::ObjectCache& descs = mmu_platform::rmap_descs();
    descs.shrink();
    mmu_platform::epoch().barrier();
    mm::ObjectCache::Stats ds = descs.stats();
    if (ds.live)
        report_fail("rmap: no descriptor leak", "%lu descriptors still allocated", ds.live);
    else
        report_pass("rmap: no descriptor leak", "every descriptor freed, %lu pages kept by the cache", ds.pages);
    size_t free_after = frames.free_frames() + ds.pages;
    if (free_after == free_before)
        report_pass("frames: no leak", "%zu frames free before and after the guests (cache pages counted)",
                    free_before);
    else
        report_fail("frames: no leak", "%zu frames free before the guests, %zu after (cache pages counted)",
                    free_before, free_after);
}

}  // namespace hv::guests
