// A virtual CPU of a guest (kernel/vm.h): its VMCS, its registers, its
// page-modification log, the flags of its run state and the requests that
// change it, its state record, its exit statistics. It runs on one CPU (its
// Scheduler's), which alone may touch its VMCS. What it acts on that is the
// guest's as a whole (memory, MMU, devices, console, outcome) is its Vm's:
// docs/vcpu.md says which is which.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/vmx/exit_reason.h"
#include "arch/x86/vmx/vmx.h"
#include "include/hv/hypercall.h"
#include "kernel/guest_outcome.h"
#include "kernel/guest_regs.h"
#include "kernel/mmio.h"
#include "kernel/spinlock.h"
#include "kernel/vcpu_context.h"

namespace hv {

class Vm;

// What one vCPU's exits cost and did; a guest's are the sum over its vCPUs
// (Vm::stats()).
struct VcpuStats {
    uint64_t exits[vmx::kExitReasonCount + 1];  // the last slot counts reasons beyond the table
    uint64_t ept_violations;                     // that the MMU fixed (slow or fast path)
    uint64_t hypercalls, hypercall_errors;
    uint64_t slices;                             // times the scheduler ran it
    uint64_t ept_fault_cycles;                   // TSC in on_ept_fault (the MMU's fault paths)
    uint64_t interrupts_injected, halts;         // a PC-platform guest's
    uint64_t mmio_emulated;                      // accesses to registered MMIO regions

    void add(const VcpuStats& o);
};

class Vcpu {
public:
    // What an exit handler asks of the run loop.
    enum class Next : uint8_t { Resume, Yield, Stop };

    Vcpu(Vm& vm, unsigned index, unsigned cpu, const vmx::Controls& controls)
        : vm_(vm), index_(index), cpu_(cpu), controls_(controls) {}
    ~Vcpu() { destroy(); }
    Vcpu(const Vcpu&) = delete;
    Vcpu& operator=(const Vcpu&) = delete;

    // Its VMCS, PML page and register context, and its registers at the
    // start; after the VM has its memory and boot state (Vm::create()).
    // False with a reason in why when frames run out.
    bool create(char* why, size_t why_size);
    // Gives its frames back; again is harmless. Its CPU no longer runs it.
    void destroy();

    // Fills the VMCS, on the CPU that runs it, before its first slice.
    void prepare();
    // After its last slice, on the same CPU: the VMCS is no longer active.
    void retire();
    void make_current();
    // Runs on this CPU until the guest stops (true) or has used slice_tsc TSC
    // ticks (false; 0 means no limit). The caller has made this vCPU's VMCS
    // current (make_current()).
    bool run_slice(uint64_t slice_tsc);

    // Requests from the control guest, served by this vCPU's own CPU between
    // two slices (service_requests()), because only that CPU may touch its
    // VMCS. Flags are atomics: the requester may run on another CPU, which
    // then kicks this vCPU's CPU so that the slice under way ends now.
    void request_pause() { request(&pause_requested_, true); }
    void request_resume() { request(&pause_requested_, false); }
    void request_stop() { request(&stop_requested_, true); }
    // Acquire: a requester that sees paused also sees the exported record. A
    // start asked of it while it was parked is not paused yet: its record
    // is taken again once its CPU has applied the start.
    bool paused() const { return parked() && !start_pending(); }
    // Parked, and to stay so: not once a resume has been asked for, even
    // before its CPU has come round to unpark it (a record set then would be
    // applied alone, after the resume that checked the records).
    bool parked() const {
        return __atomic_load_n(&paused_, __ATOMIC_ACQUIRE) && __atomic_load_n(&pause_requested_, __ATOMIC_ACQUIRE);
    }
    bool start_pending() const { return __atomic_load_n(&start_requested_, __ATOMIC_ACQUIRE); }
    // HV_HC_START_VCPU: it starts at rip with arg (in EDI), at its CPU's next
    // round; false if it has started already (or been asked to). Index 0
    // starts at creation.
    bool request_start(uint32_t rip, uint32_t arg);
    // Its guest has stopped (any vCPU's exit may stop it).
    bool stopped() const;
    // Runs, or will at its CPU's next round (a resume or a start is
    // pending). A vCPU never started cannot resume anyone.
    bool can_run() const {
        return !stopped() && __atomic_load_n(&claimed_, __ATOMIC_ACQUIRE) &&
               (!paused() || !__atomic_load_n(&pause_requested_, __ATOMIC_ACQUIRE));
    }
    // The record taken when it parked, given to f while it stays parked
    // (the lock its CPU takes to unpark); false if it is not paused.
    template <class F>
    bool with_exported_state(F f) {
        LockGuard g(state_lock_);
        if (!parked()) return false;
        f(static_cast<const hv_guest_state&>(exported_));
        return true;
    }
    // A record accepted by state_refusal(), applied at the resume; false if
    // it is not paused (it may have just unparked: a record kept for its
    // next resume would roll it back then).
    bool set_pending_state(const hv_guest_state& s);
    // The TSC of the record set for its resume, if one is.
    bool pending_tsc(uint64_t& tsc);
    // What its record may hold on its CPU (state_check.h).
    uint32_t mxcsr_mask() const { return context_.mxcsr_mask(); }
    unsigned linear_address_bits() const { return context_.linear_address_bits(); }
    // Returns true when it may run now (VMCS current on this CPU).
    bool service_requests();
    // Stops its guest: paused with no running guest left to resume it.
    void abandon();

    Vm& vm() { return vm_; }
    const Vm& vm() const { return vm_; }
    unsigned index() const { return index_; }
    unsigned cpu() const { return cpu_; }
    const VcpuStats& stats() const { return stats_; }

private:
    void request(bool* flag, bool value);
    bool run_entries(uint64_t slice_tsc);  // run_slice's loop, with context_ loaded
    void drain_pml();
    static constexpr uint64_t kPmlEntries = 512;
    // Stops its guest with the reason (Vm::stop) and ends the run loop.
    Next stop(Outcome o, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

    // The state record (vcpu_state.cpp): taken when it parks, applied at the
    // resume, on its CPU with its VMCS current.
    void export_state();
    void import_state();
    // CR0 and CR4 as the guest sees them, and both set from that view (the
    // registers get the bits VMX fixes; vm_cr.cpp). The VMCS is current.
    static uint64_t cr0_view();
    static uint64_t cr4_view();
    void set_cr0_cr4(uint64_t cr0, uint64_t cr4);

    // VM exits (vm_exit.cpp, vm_cr.cpp, vm_msr.cpp): what they do to the
    // registers and the VMCS is here; what they do to memory and devices is
    // the Vm's.
    Next handle_exit(uint32_t reason);
    void skip_instruction();
    void inject_gp();
    void inject_exception(uint32_t vector, bool error_code);  // a fault: the instruction is not skipped
    Next on_cpuid();
    Next on_io();
    Next on_msr(bool write);
    Next on_cr_access();
    Next on_xsetbv();
    Next on_ept_fault(bool misconfig);
    Next emulate_mmio(uint64_t gpa, MmioRegion& r);
    Next on_vmcall();
    // Guest-linear to guest-physical through the guest's own page tables
    // (4-level, 4K/2M/1G pages, or no paging); false if not mapped.
    bool translate(uint64_t linear, uint64_t& gpa) const;

    // Its side of the PC platform (vm_platform.cpp): the boot vCPU's entry
    // state, port I/O into its registers, interrupts injected into it, HLT.
    void write_linux_entry_state();
    Next platform_io(uint16_t port, unsigned size, bool in);
    Next on_hlt();
    uint64_t guest_tsc(uint64_t tsc) const { return tsc + vm_tsc_offset(); }
    uint64_t vm_tsc_offset() const;
    // Its registers as HV_HC_START_VCPU documents them, entering at rip.
    void enter_at_start(uint32_t rip, uint32_t arg);
    uint64_t next_platform_event(uint64_t tsc);  // the CPU's TSC at the next timer event, or ~0
    void inject_interrupt();
    void set_interrupt_window(bool on);
    void requeue_interrupted_event();
    bool woken();

    Vm& vm_;
    unsigned index_;
    unsigned cpu_;
    const vmx::Controls& controls_;
    GuestRegs regs_{};
    VcpuContext context_;  // what VM entry and exit do not switch
    uint64_t vmcs_ = 0;
    uint64_t pml_ = 0;  // dirty_log=pml: the page-modification log (512 GPAs)
    bool launched_ = false;
    bool halted_ = false;  // in HLT with interrupts on: runs at its next interrupt
    bool window_ = false;  // interrupt-window exiting is on
    bool pause_requested_ = false, stop_requested_ = false, paused_ = false;
    // Started: runs (its CPU's; in the record as activity). claimed_: started or
    // asked to (atomic; what makes a second HV_HC_START_VCPU -EBUSY).
    // start_requested_ (atomic, release after start_rip_ and start_arg_):
    // asked, not yet applied by its CPU.
    bool started_ = false, claimed_ = false, start_requested_ = false;
    uint32_t start_rip_ = 0, start_arg_ = 0;
    // The state records, and paused_'s change to false, under state_lock_:
    // a control guest's GET or SET never meets a half-written record, and a
    // SET never lands between the import and the unpark.
    SpinLock state_lock_;
    hv_guest_state exported_{};
    hv_guest_state pending_{};
    bool has_pending_ = false;
    VcpuStats stats_{};
};

}  // namespace hv
