#include "kernel/vcpu.h"

#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/instructions.h"
#include "arch/x86/vmx/vmcs.h"
#include "include/hv/hypercall.h"
#include "kernel/format.h"
#include "kernel/mmu_platform.h"
#include "kernel/smp.h"
#include "kernel/tlb.h"
#include "kernel/vm.h"

namespace hv {
void VcpuStats::add(const VcpuStats& o) {
    for (unsigned r = 0; r <= vmx::kExitReasonCount; ++r) exits[r] += o.exits[r];
    ept_violations += o.ept_violations;
    hypercalls += o.hypercalls, hypercall_errors += o.hypercall_errors;
    slices += o.slices;
    ept_fault_cycles += o.ept_fault_cycles;
    interrupts_injected += o.interrupts_injected, halts += o.halts;
    mmio_emulated += o.mmio_emulated;
}

bool Vcpu::create(char* why, size_t n) {
    vmcs_ = mmu_platform::alloc_frames(1, 1);
    if (!vmcs_) return fail(why, n, "no frame for its VMCS");
    if (vm_.switches().pml && !(pml_ = mmu_platform::alloc_frames(1, 1))) return fail(why, n, "no frame for its PML");
    if (!context_.init(controls_.xsave)) return fail(why, n, "no frames for its register state");
    *x86::phys_to_virt<uint32_t>(vmcs_) = controls_.vmcs_revision;
    // The boot protocols' registers: the boot block for ours, the boot
    // parameters for Linux.
    if (vm_.pc())
        regs_.rsi = vm_.linux_entry().rsi;
    else
        regs_.rbx = HV_GUEST_BOOT_GPA;
    if (vm_.spec().start_paused) pause_requested_ = true;
    // The boot vCPU starts with the guest; another waits for HV_HC_START_VCPU.
    started_ = claimed_ = index_ == 0;
    return true;
}

uint64_t Vcpu::vm_tsc_offset() const { return vm_.tsc_offset(); }

bool Vcpu::request_start(uint32_t rip, uint32_t arg) {
    if (__atomic_exchange_n(&claimed_, true, __ATOMIC_ACQ_REL)) return false;
    start_rip_ = rip, start_arg_ = arg;
    // Release: its CPU that sees the request sees where to start.
    __atomic_store_n(&start_requested_, true, __ATOMIC_RELEASE);
    if (cpu_ != smp::current_cpu()) smp::kick(cpu_);
    return true;
}

// As the boot vCPU entered (hypercall.h, HV_HC_START_VCPU), at rip: every
// register as at creation, whatever a record gave this vCPU while it waited
// (a not-started record's registers are never run).
void Vcpu::enter_at_start(uint32_t rip, uint32_t arg) {
    vmx::write_guest_boot_state(controls_, rip);
    context_.reset();
    regs_ = GuestRegs{};
    regs_.rbx = HV_GUEST_BOOT_GPA;
    regs_.rsi = index_;
    regs_.rdi = arg;
    halted_ = false;
    started_ = true;
}

void Vcpu::destroy() {
    if (vmcs_) {
        mmu_platform::free_frames(vmcs_, 1);
        vmcs_ = 0;
    }
    if (pml_) {
        mmu_platform::free_frames(pml_, 1);
        pml_ = 0;
    }
    context_.destroy();
}

void Vcpu::prepare() {
    // On the CPU that will run it: a VMCS is active on one CPU only, and its
    // host state is that CPU's (TSS, GDT, GS base).
    if (vmx::vmclear(vmcs_) != vmx::VmxResult::Ok || vmx::vmptrld(vmcs_) != vmx::VmxResult::Ok) {
        stop(Outcome::EntryFailed, "VMCLEAR/VMPTRLD of its VMCS failed on CPU %u", cpu_);
        return;
    }
    vmx::write_controls(controls_, vm_.mmu().eptp());
    vmx::write_host_state(cpu_, uint64_t(vmx_exit_entry));
    vmx::write_guest_boot_state(controls_, HV_GUEST_LOAD_GPA);
    if (vm_.pc()) write_linux_entry_state();
    vmx::vmwrite(vmx::VmcsField::VIRTUAL_APIC_PAGE_ADDR, context_.virtual_apic_page());
    if (pml_) {
        vmx::vmwrite(vmx::VmcsField::SECONDARY_VM_EXEC_CONTROL, controls_.proc2 | vmx::proc2::ENABLE_PML);
        vmx::vmwrite(vmx::VmcsField::PML_ADDRESS, pml_);
        vmx::vmwrite(vmx::VmcsField::GUEST_PML_INDEX, kPmlEntries - 1);
    }
    if (vm_.spec().start_paused) {
        export_state();
        __atomic_store_n(&paused_, true, __ATOMIC_RELEASE);
    }
}

void Vcpu::retire() {
    // VMCLEAR on the CPU where the VMCS is active: it writes back what the
    // CPU cached of it, and it must not happen on another CPU.
    vmx::vmclear(vmcs_);
}

void Vcpu::make_current() {
    if (vmx::vmptrld(vmcs_) != vmx::VmxResult::Ok) stop(Outcome::EntryFailed, "VMPTRLD of its VMCS failed");
}

bool Vcpu::stopped() const { return vm_.stopped(); }

Vcpu::Next Vcpu::stop(Outcome o, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (vm_.vcpu_count() == 1) {
        vm_.vstop(o, fmt, ap);
    } else {
        // Which of its vCPUs ended the guest, and why.
        char why[160];
        vformat(why, sizeof why, fmt, ap);
        vm_.stop(o, "vCPU %u: %s", index_, why);
    }
    va_end(ap);
    return Next::Stop;
}

bool Vcpu::run_slice(uint64_t slice_tsc) {
    // For the whole slice the CPU holds this vCPU's registers that VM entry
    // and exit leave alone; no other guest runs here meanwhile.
    context_.load();
    bool stopped = run_entries(slice_tsc);
    context_.save();
    return stopped;
}

bool Vcpu::run_entries(uint64_t slice_tsc) {
    mm::Epoch& epoch = mmu_platform::epoch();
    ++stats_.slices;
    const bool pc = vm_.pc();
    bool timed = controls_.preemption_timer && slice_tsc;
    uint64_t deadline = x86::rdtsc() + slice_tsc;
    while (!vm_.stopped()) {
        // The timer restarts from the VMCS value at every entry, so each entry
        // gets what is left of the slice: a guest that exits often is still
        // preempted on time.
        // A PC-platform guest's timer fires on time too: the preemption timer
        // stops at its next expiry if that comes first, and what is due then
        // is injected before the entry.
        if (timed) {
            uint64_t now = x86::rdtsc();
            if (now >= deadline) return false;
            uint64_t until = deadline;
            if (pc) {
                const uint64_t event = next_platform_event(now);
                if (event < until) until = event > now ? event : now;
            }
            uint64_t ticks = (until - now) >> controls_.preemption_timer_shift;
            vmx::vmwrite(vmx::VmcsField::VMX_PREEMPTION_TIMER_VALUE, ticks > 0xffffffff ? 0xffffffff : ticks);
        } else if (pc) {
            next_platform_event(x86::rdtsc());
        }
        if (pc) inject_interrupt();
        // A CPU in a guest holds no reference into the MMU: entering and
        // leaving are quiescent states. Flushes asked of this CPU are done
        // before the guest can use a stale translation.
        epoch.quiescent_state();
        tlb::serve();
        uint64_t r = vmx_run(&regs_, launched_);
        epoch.quiescent_state();
        if (r != 0) {
            const char* insn = launched_ ? "VMRESUME" : "VMLAUNCH";
            if (r == 1) {
                uint32_t e = uint32_t(vmx::vmread(vmx::VmcsField::VM_INSTRUCTION_ERROR));
                stop(Outcome::EntryFailed, "%s failed: VM-instruction error %u (%s)", insn, e,
                     vmx::instruction_error_name(e));
            } else {
                stop(Outcome::EntryFailed, "%s failed: VMfailInvalid (no current VMCS)", insn);
            }
            break;
        }
        launched_ = true;
        if (pml_) drain_pml();
        requeue_interrupted_event();
        uint32_t reason = uint32_t(vmx::vmread(vmx::VmcsField::VM_EXIT_REASON));
        uint32_t basic = reason & vmx::kExitReasonBasicMask;
        ++stats_.exits[basic < vmx::kExitReasonCount ? basic : vmx::kExitReasonCount];
        Next next = handle_exit(reason);
        if (next == Next::Yield) return false;
        if (next == Next::Stop) break;
    }
    return true;
}

// At every VM exit, so that a CPU that has left the guest since a harvest
// began has put its log in the dirty bitmap (get_dirty_log() makes sure of
// that). The processor writes entry[index] then decrements the index; after
// the 512th it is 0xffff and the next logged write exits (PML_FULL).
void Vcpu::drain_pml() {
    const uint64_t index = vmx::vmread(vmx::VmcsField::GUEST_PML_INDEX) & 0xffff;
    const uint64_t first = index >= kPmlEntries ? 0 : index + 1;
    if (first == kPmlEntries) return;
    const uint64_t* log = x86::phys_to_virt<uint64_t>(pml_);
    vm_.mmu().log_pml(log + first, kPmlEntries - first);
    vmx::vmwrite(vmx::VmcsField::GUEST_PML_INDEX, kPmlEntries - 1);
}

void Vcpu::request(bool* flag, bool value) {
    // Without the kick a pause waited for the end of the target's slice (the
    // preemption timer, up to 2^22 TSC ticks): it was most of a migration's
    // downtime. On the requester's own CPU the target is not running. Only a
    // change kicks: a control guest polling HV_HC_RESUME on a running guest
    // drove it out of the guest hundreds of thousands of times.
    bool old = __atomic_exchange_n(flag, value, __ATOMIC_ACQ_REL);
    if (old != value && cpu_ != smp::current_cpu()) smp::kick(cpu_);
}

bool Vcpu::service_requests() {
    if (vm_.stopped()) return false;
    if (__atomic_load_n(&stop_requested_, __ATOMIC_ACQUIRE)) {
        stop(Outcome::Stopped, "stopped by the control guest");
        return false;
    }
    // The resume first, then a start, then a pause. A start comes from
    // the guest's own vCPUs: one that arrives while this vCPU is still
    // parked by a resume that has not reached it was asked after that
    // resume, and must not be undone by the record the resume imports. One
    // asked while the vCPU was parked (the guest's other vCPUs parked after
    // asking) is applied and its record taken again, and only then does the
    // vCPU count as paused (Vm::paused()): a migration carries it started.
    bool want_pause = __atomic_load_n(&pause_requested_, __ATOMIC_ACQUIRE);
    if (!want_pause && paused_) {
        LockGuard g(state_lock_);
        if (has_pending_) import_state();
        has_pending_ = false;
        // The guest's clock, which the resume may have set (Vm::resume).
        vmx::vmwrite(vmx::VmcsField::TSC_OFFSET, vm_.tsc_offset());
        __atomic_store_n(&paused_, false, __ATOMIC_RELEASE);
    }
    if (__atomic_load_n(&start_requested_, __ATOMIC_ACQUIRE)) {
        LockGuard g(state_lock_);
        enter_at_start(start_rip_, start_arg_);
        // A record still pending here says "not started" (set_pending_state()
        // let the start be claimed): the start supersedes it.
        has_pending_ = false;
        if (paused_) export_state();
        __atomic_store_n(&start_requested_, false, __ATOMIC_RELEASE);
    }
    if (want_pause && !paused_) {
        LockGuard g(state_lock_);
        export_state();
        // Release: the state above is complete before anyone sees paused.
        __atomic_store_n(&paused_, true, __ATOMIC_RELEASE);
    }
    if (!paused_ && !started_) return false;  // waits for HV_HC_START_VCPU
    if (!paused_ && !woken()) return false;   // in HLT, and no interrupt yet
    return !paused_ && !vm_.stopped();
}

bool Vcpu::set_pending_state(const hv_guest_state& s) {
    LockGuard g(state_lock_);
    if (!parked()) return false;
    pending_ = s;
    has_pending_ = true;
    // Its guest is paused, so no START of it is in flight: whether one may
    // come after the resume is the record's to say.
    __atomic_store_n(&claimed_, s.vcpu.activity != HV_ACTIVITY_WAIT_START, __ATOMIC_RELEASE);
    return true;
}

bool Vcpu::pending_tsc(uint64_t& tsc) {
    LockGuard g(state_lock_);
    tsc = pending_.vcpu.tsc;
    return paused_ && has_pending_;
}

void Vcpu::abandon() { stop(Outcome::Abandoned, "left paused with no running guest to resume it"); }

bool Vcpu::translate(uint64_t la, uint64_t& gpa) const {
    uint64_t cr0 = vmx::vmread(vmx::VmcsField::GUEST_CR0);
    if (!(cr0 & x86::cr0::PG)) {
        gpa = la & 0xffffffff;
        return true;
    }
    // IA-32e paging (Intel SDM Vol. 3A, 4.5); our guests run in long mode.
    constexpr uint64_t kP = 1, kPs = 1ull << 7, kAddr = 0x000ffffffffff000ull;
    uint64_t table = vmx::vmread(vmx::VmcsField::GUEST_CR3) & kAddr;
    for (int level = 4; level >= 1; --level) {
        unsigned shift = 12 + 9 * unsigned(level - 1);
        uint64_t e;
        if (!vm_.read_guest(table + ((la >> shift) & 511) * 8, &e, 8) || !(e & kP)) return false;
        if (level == 1 || ((level == 2 || level == 3) && (e & kPs))) {
            uint64_t page = uint64_t(1) << shift;
            gpa = (e & kAddr & ~(page - 1)) | (la & (page - 1));
            return true;
        }
        table = e & kAddr;
    }
    return false;
}

}  // namespace hv
