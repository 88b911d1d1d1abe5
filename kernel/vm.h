// A guest: its memory slot (host frames backing guest-physical [0, mem)), its
// EPT, its VMCS and one vCPU, run on the current CPU until it stops. A guest
// that misbehaves is stopped with its reason; the hypervisor goes on.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/exit_reason.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/cmdline.h"
#include "kernel/guest_console.h"
#include "kernel/guest_outcome.h"
#include "kernel/guest_regs.h"

namespace hv {

namespace mb2 {
struct Module;
}

struct VmStats {
    uint64_t exits[vmx::kExitReasonCount + 1];  // the last slot counts reasons beyond the table
    uint64_t ept_violations;                     // each mapped one page of the slot
    uint64_t hypercalls, hypercall_errors;
    uint64_t first_entry_tsc;
};

// What a memtest guest reported (HV_HC_MEMTEST_REPORT).
struct MemtestReport {
    bool valid;
    uint64_t gpa, bytes, mismatches;
};

class Vm {
public:
    Vm(const cmdline::GuestSpec& spec, mm::FrameAllocator& frames, const vmx::Controls& controls, unsigned cpu)
        : spec_(spec), frames_(frames), controls_(controls), cpu_(cpu), ept_(frames), console_(spec_.name) {}
    ~Vm() { destroy(); }
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    // Allocates and zeroes the slot, loads the image, builds the VMCS. False
    // with a reason in why when resources run out or the image does not fit.
    bool create(const mb2::Module& image, char* why, size_t why_size);

    // Runs the vCPU on this CPU until the guest stops (true) or has used
    // slice_tsc TSC ticks (false; 0 means no limit). The caller has made this
    // VM's VMCS current (make_current()).
    bool run_slice(uint64_t slice_tsc);
    void make_current();
    bool stopped() const { return stopped_; }
    Outcome outcome() const { return outcome_; }

    const char* name() const { return spec_.name; }
    const char* stop_reason() const { return reason_; }
    uint64_t exit_status() const { return exit_status_; }
    const VmStats& stats() const { return stats_; }
    const MemtestReport& memtest() const { return memtest_; }
    uint64_t mem_bytes() const { return mem_bytes_; }
    uint64_t backing() const { return backing_; }
    const vmx::Ept& ept() const { return ept_; }

    // For hypercall handlers. [gpa, gpa + n) must lie in the slot (checked,
    // overflow-safe); false and nothing copied otherwise.
    bool in_slot(uint64_t gpa, uint64_t n) const { return gpa <= mem_bytes_ && n <= mem_bytes_ - gpa; }
    bool read_guest(uint64_t gpa, void* dst, uint64_t n) const;
    bool write_guest(uint64_t gpa, const void* src, uint64_t n);
    GuestConsole& console() { return console_; }
    void record_memtest(const MemtestReport& r) { memtest_ = r; }
    void guest_exit(uint64_t status);

private:
    enum class Next : uint8_t { Resume, Yield, Stop };

    void destroy();
    Next handle_exit(uint32_t reason);
    Next stop(Outcome o, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void skip_instruction();
    void inject_gp();

    Next on_cpuid();
    Next on_io();
    Next on_msr(bool write);
    Next on_ept_violation();
    Next on_vmcall();

    cmdline::GuestSpec spec_;
    mm::FrameAllocator& frames_;
    const vmx::Controls& controls_;
    unsigned cpu_;
    vmx::Ept ept_;
    GuestConsole console_;
    GuestRegs regs_{};
    uint64_t backing_ = 0;   // host-physical base of the slot
    uint64_t mem_bytes_ = 0;
    uint64_t vmcs_ = 0;
    bool launched_ = false;
    bool stopped_ = false;
    Outcome outcome_ = Outcome::Unexpected;
    char reason_[160] = "";
    uint64_t exit_status_ = 0;
    VmStats stats_{};
    MemtestReport memtest_{};
};

}  // namespace hv
