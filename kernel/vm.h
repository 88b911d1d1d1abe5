// A guest: its memory (host frames backing guest-physical [0, mem), memslot
// 0), its EPT MMU (mm/mmu.h), its VMCS and one vCPU, run on one CPU until it
// stops. A guest that misbehaves is stopped with its reason; the hypervisor
// goes on.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/vmx/exit_reason.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/cmdline.h"
#include "kernel/devices/legacy_platform.h"
#include "kernel/guest_console.h"
#include "kernel/guest_outcome.h"
#include "kernel/guest_regs.h"
#include "kernel/linux/loader.h"
#include "kernel/mmio.h"
#include "kernel/serving_lock.h"
#include "kernel/spinlock.h"
#include "kernel/vcpu_context.h"
#include "mm/mmu.h"
#include "include/hv/hypercall.h"

namespace hv {

namespace mb2 {
struct Module;
}

struct VmStats {
    uint64_t exits[vmx::kExitReasonCount + 1];  // the last slot counts reasons beyond the table
    uint64_t ept_violations;                     // that the MMU fixed (slow or fast path)
    uint64_t hypercalls, hypercall_errors;
    uint64_t slices;                             // times the scheduler ran it
    uint64_t ept_fault_cycles;                   // TSC in on_ept_fault (the MMU's fault paths)
    uint64_t interrupts_injected, halts;         // a PC-platform guest's
};

// What a memtest guest reported (HV_HC_MEMTEST_REPORT).
struct MemtestReport {
    bool valid;
    uint64_t gpa, bytes, mismatches;
};

// Another guest's memory mapped into this one (HV_HC_MAP_GUEST).
struct Window {
    uint64_t gpa;  // where it starts in this guest
    class Vm* target;
    bool writable;
};

class Vm {
public:
    Vm(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls, const mm::MmuSwitches& switches)
        : id_(id), spec_(spec), controls_(controls), switches_(switches), cpu_(spec.cpu), console_(spec_.name),
          legacy_(devices::ByteSink{&Vm::console_byte, this}, devices::ResetLine{&Vm::reset_line, this}) {}
    ~Vm() { destroy(); }
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    // Allocates and zeroes the slot, loads the image (none: empty memory),
    // builds the VMCS. A Linux bzImage is loaded by the boot protocol, with
    // initrd (nullable) as its initrd, and gets the PC platform. False with a
    // reason in why when resources run out or the image does not fit.
    bool create(const mb2::Module* image, const mb2::Module* initrd, char* why, size_t why_size);
    // A Linux bzImage (the boot protocol's magic numbers; create() checks the rest).
    static bool is_linux_image(const mb2::Module* image);

    // Runs the vCPU on this CPU until the guest stops (true) or has used
    // slice_tsc TSC ticks (false; 0 means no limit). The caller has made this
    // VM's VMCS current (make_current()).
    bool run_slice(uint64_t slice_tsc);
    // Fills the VMCS, on the CPU that runs the VM, before its first slice.
    void prepare();
    // After its last slice, on the same CPU: the VMCS is no longer active.
    void retire();
    void make_current();
    // Acquire: whoever sees it stopped also sees its outcome and reason.
    bool stopped() const { return __atomic_load_n(&stopped_, __ATOMIC_ACQUIRE); }
    Outcome outcome() const { return outcome_; }

    // Requests from the control guest, served by this VM's own CPU between
    // two slices (service_requests()), because only that CPU may touch its
    // VMCS. Flags are atomics: the requester may run on another CPU, which
    // then kicks this VM's CPU so that the slice under way ends now.
    void request_pause() { request(&pause_requested_, true); }
    void request_resume() { request(&pause_requested_, false); }
    void request_stop() { request(&stop_requested_, true); }
    // Acquire: a requester that sees paused also sees exported_state().
    bool paused() const { return __atomic_load_n(&paused_, __ATOMIC_ACQUIRE); }
    // Runs, or will at its CPU's next round (a resume is pending).
    bool can_run() const {
        return !__atomic_load_n(&stopped_, __ATOMIC_ACQUIRE) &&
               (!paused() || !__atomic_load_n(&pause_requested_, __ATOMIC_ACQUIRE));
    }
    // The record taken when it parked, given to f while it stays parked
    // (the lock its CPU takes to unpark); false if it is not paused.
    template <class F>
    bool with_exported_state(F f) {
        LockGuard g(state_lock_);
        if (!paused_) return false;
        f(static_cast<const hv_guest_state&>(exported_));
        return true;
    }
    // A record accepted by state_refusal(), applied at the resume; false if
    // the guest is not paused (it may have just unparked: a record kept for
    // its next resume would roll it back then).
    bool set_pending_state(const hv_guest_state& s);
    // What the record of this guest's vCPU may hold on its CPU (state_check.h).
    uint32_t mxcsr_mask() const { return context_.mxcsr_mask(); }
    unsigned linear_address_bits() const { return context_.linear_address_bits(); }
    // Returns true when the VM may run now (VMCS current on this CPU).
    bool service_requests();
    void abandon();

    unsigned id() const { return id_; }
    bool control() const { return spec_.control; }
    const vmx::Controls& controls() const { return controls_; }
    // [0, 2^39): beyond that an EPT walk of 4 levels still reaches, but no
    // guest of ours maps it.
    static constexpr uint64_t kMaxWindowEnd = 1ull << 39;
    static constexpr uint32_t kFirstWindowSlot = HV_MAX_SLOTS;  // after the guest's own slots
    int add_window(const Window& w);  // 0 or a negative errno
    int remove_window(uint64_t gpa);  // the window that starts at gpa; 0 or -ENOENT
    // The host-physical page that gpa must map to: its slot or a window.
    bool expected_backing(uint64_t gpa, uint64_t& hpa) const;
    // The dirty-log interface (KVM's, on this VM), serialised per VM as KVM's
    // slots_lock does. 0 or a negative errno.
    int set_memory_region(const hv_memory_region& r);
    int get_dirty_log(uint32_t slot, uint64_t* out, size_t out_words);
    int clear_dirty_log(const hv_clear_dirty_log& c, const uint64_t* bitmap);
    int set_dirty_log_mode(bool manual_protect, bool initially_set);
    int register_mmio(uint64_t gpa, uint64_t size);  // 0 or a negative errno
    bool overlaps_mmio(uint64_t gpa, uint64_t size) const;  // one of its MMIO regions (slots_lock_)
    uint64_t mmio_emulated() const { return mmio_emulated_; }
    // Guest-linear to guest-physical through the guest's own page tables
    // (4-level, 4K/2M/1G pages, or no paging); false if not mapped.
    bool translate(uint64_t linear, uint64_t& gpa) const;
    // Window i of HV_MAP_MAX; a free one has no target.
    const Window& window(size_t i) const { return windows_[i]; }
    const char* name() const { return spec_.name; }
    const cmdline::GuestSpec& spec() const { return spec_; }
    const char* stop_reason() const { return reason_; }
    const VmStats& stats() const { return stats_; }
    const MemtestReport& memtest() const { return memtest_; }
    uint64_t mem_bytes() const { return mem_bytes_; }
    uint64_t backing() const { return backing_; }
    mm::Mmu& mmu() { return mmu_; }
    const mm::Mmu& mmu() const { return mmu_; }

    // For hypercall handlers. [gpa, gpa + n) must lie in the slot (checked,
    // overflow-safe); false and nothing copied otherwise.
    bool in_slot(uint64_t gpa, uint64_t n) const { return gpa <= mem_bytes_ && n <= mem_bytes_ - gpa; }
    bool read_guest(uint64_t gpa, void* dst, uint64_t n) const;
    // The hypervisor's read-only view of n 64-bit words of this guest's
    // memory at gpa (8-byte aligned, inside slot 0), or nullptr.
    const uint64_t* guest_words(uint64_t gpa, uint64_t n) const;
    // The one path by which the hypervisor writes into a guest's memory:
    // fill(p) writes the n bytes at p (the guest's [gpa, gpa + n)), then
    // every page written is marked dirty in the slot's log, so that a live
    // migration carries it (a write the EPT never saw is otherwise missed:
    // the bug class of cloud-hypervisor#5356 and propolis#233). False, and
    // nothing written, if the range is not inside slot 0.
    template <class Fill>
    bool write_guest_with(uint64_t gpa, uint64_t n, Fill fill) {
        if (!in_slot(gpa, n)) return false;
        fill(guest_bytes(gpa));
        mark_dirty(gpa, n);
        return true;
    }
    bool write_guest(uint64_t gpa, const void* src, uint64_t n);
    GuestConsole& console() { return console_; }
    void record_memtest(const MemtestReport& r) { memtest_ = r; }
    void guest_exit(uint64_t status);

private:
    enum class Next : uint8_t { Resume, Yield, Stop };

    void* guest_bytes(uint64_t gpa) const;
    void mark_dirty(uint64_t gpa, uint64_t n);
    void export_state();
    void import_state();
    // CR0 and CR4 as the guest sees them, and both set from that view (the
    // registers get the bits VMX fixes; vm_cr.cpp). The VMCS is current.
    static uint64_t cr0_view();
    static uint64_t cr4_view();
    void set_cr0_cr4(uint64_t cr0, uint64_t cr4);

    void destroy();
    bool run_entries(uint64_t slice_tsc);  // run_slice's loop, with context_ loaded
    Next handle_exit(uint32_t reason);
    Next stop(Outcome o, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void skip_instruction();
    void inject_gp();
    void inject_exception(uint32_t vector, bool error_code);  // a fault: the instruction is not skipped

    Next on_cpuid();
    void request(bool* flag, bool value);
    void drain_pml();
    void sync_pml();
    static constexpr uint64_t kPmlEntries = 512;
    Next on_io();
    Next on_msr(bool write);
    Next on_cr_access();
    Next on_xsetbv();
    Next on_ept_fault(bool misconfig);
    Next emulate_mmio(uint64_t gpa, MmioRegion& r);
    Next on_vmcall();

    // The PC platform of a Linux guest (vm_platform.cpp): port I/O, time,
    // interrupts into the guest, HLT as "idle until the next interrupt".
    bool load_linux(const linuxboot::LinuxLayout& l, const mb2::Module* image, const mb2::Module* initrd,
                    char* why, size_t n);
    void write_linux_entry_state();
    Next platform_io(uint16_t port, unsigned size, bool in);
    Next on_hlt();
    uint64_t platform_now(uint64_t tsc) const;       // PIT ticks since the guest was created
    uint64_t tsc_at(uint64_t ticks) const;            // the TSC when the platform reaches ticks
    uint64_t next_platform_event(uint64_t tsc);        // TSC of the next timer event, or ~0
    void inject_interrupt();
    void set_interrupt_window(bool on);
    void requeue_interrupted_event();
    bool woken();
    static void console_byte(void* vm, uint8_t byte);
    static void reset_line(void* vm, devices::ResetSource source);

    unsigned id_;
    cmdline::GuestSpec spec_;
    const vmx::Controls& controls_;
    mm::MmuSwitches switches_;
    unsigned cpu_;
    mm::Mmu mmu_;
    bool mmu_ready_ = false;
    GuestConsole console_;
    GuestRegs regs_{};
    VcpuContext context_;  // what VM entry and exit do not switch
    uint64_t backing_ = 0;   // host-physical base of the slot
    uint64_t mem_bytes_ = 0;
    uint64_t vmcs_ = 0;
    uint64_t pml_ = 0;  // dirty_log=pml: the page-modification log (512 GPAs)
    bool launched_ = false;
    bool stopped_ = false;
    bool pause_requested_ = false, stop_requested_ = false, paused_ = false;
    // The state records, and paused_'s change to false, under state_lock_:
    // a control guest's GET or SET never meets a half-written record, and a
    // SET never lands between the import and the unpark.
    SpinLock state_lock_;
    hv_guest_state exported_{};
    hv_guest_state pending_{};
    bool has_pending_ = false;
    Window windows_[HV_MAP_MAX] = {};
    ServingLock slots_lock_;
    uint32_t writable_windows_onto_ = 0;  // other guests' writable windows onto slot 0 (slots_lock_)
    struct SlotBacking {
        uint64_t pa, bytes, gpa;  // bytes == 0: no such slot
    };
    SlotBacking slots_[HV_MAX_SLOTS] = {};
    MmioRegion mmio_[HV_MMIO_MAX] = {};
    size_t mmio_count_ = 0;
    uint64_t mmio_emulated_ = 0;
    Outcome outcome_ = Outcome::Unexpected;
    char reason_[160] = "";
    VmStats stats_{};
    MemtestReport memtest_{};

    // A Linux guest's platform and boot state.
    devices::LegacyPlatform legacy_;
    bool pc_ = false;              // the guest has the PC platform (a Linux guest)
    bool halted_ = false;          // in HLT with interrupts on: runs at its next interrupt
    bool window_ = false;          // interrupt-window exiting is on
    const char* reset_by_ = nullptr;  // the guest pulled the reset line: which way
    bool panicked_ = false;        // its console said it panicked
    uint64_t tsc0_ = 0;            // the guest's TSC at platform tick 0
    uint64_t tsc_offset_ = 0;      // the guest's TSC less the CPU's (the VMCS's TSC offset)
    linuxboot::EntryState linux_entry_{};
};

}  // namespace hv
