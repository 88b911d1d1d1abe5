// The part of a vCPU's registers that VM entry and exit leave alone: what
// one guest leaves in them, the next guest on that CPU would find, and some
// reach the host itself. Each vCPU keeps its own here; a CPU holds them only
// while the vCPU runs (load() ... save(), around one time slice):
//   - x87, SSE, AVX and every other XCR0 state component (XSAVE with every
//     component the CPU supports; FXSAVE without XSAVE), and the guest's
//     XCR0, which it sets with XSETBV (an exit, always: set_xcr0());
//   - DR0-3 and DR6 (DR7 and IA32_DEBUGCTL are in the VMCS, loaded and saved
//     by the debug-controls entry and exit controls);
//   - CR2;
//   - IA32_KERNEL_GS_BASE (which SWAPGS exchanges without an exit),
//     IA32_STAR, IA32_LSTAR, IA32_CSTAR and IA32_FMASK.
// CR8 is not switched: with the TPR shadow, a guest's MOV to and from CR8
// uses its virtual-APIC page (allocated here), never the local APIC's TPR.
#pragma once

#include <stdint.h>

#include "arch/x86/xsave.h"
#include "include/hv/hypercall.h"

namespace hv {

class VcpuContext {
public:
    VcpuContext() = default;
    VcpuContext(const VcpuContext&) = delete;
    VcpuContext& operator=(const VcpuContext&) = delete;

    // Allocates the save area and the virtual-APIC page and puts every
    // register in its reset state: x87 as FNINIT leaves it, MXCSR 0x1F80,
    // XMM/YMM/... 0, XCR0 1 (x87), DR0-3 0, DR6 0xFFFF0FF0, CR2, CR8 and the
    // MSRs 0. False when no frames are left.
    bool init(const x86::XsaveFeatures& f);
    void destroy();
    // Every register back in the reset state init() gives (a vCPU that
    // starts after a state record gave it other values), while the vCPU
    // does not run.
    void reset();
    // Host-physical, for the VMCS's virtual-APIC address.
    uint64_t virtual_apic_page() const { return vapic_; }

    // On the vCPU's CPU, interrupts off, before its first VM entry of a time
    // slice and after its last VM exit. In between, the CPU's registers are
    // the vCPU's: the hypervisor uses none of them (it is built with
    // -mgeneral-regs-only, sets no breakpoint, takes no page fault and
    // executes no SWAPGS or SYSCALL), and the exit handlers below act on
    // the registers themselves.
    void load();
    void save();

    // XSETBV to XCR0, checked as the processor checks it. False: #GP.
    bool set_xcr0(uint64_t v);
    uint64_t xcr0() const { return xcr0_; }

    // RDMSR and WRMSR of the MSRs kept here (false for any other, or for a
    // value the processor would refuse: the guest gets #GP).
    bool read_msr(uint32_t msr, uint64_t& v) const;
    bool write_msr(uint32_t msr, uint64_t v);
    // Of this CPU, for the canonical checks of addresses a guest writes.
    unsigned linear_address_bits() const { return linear_bits_; }
    // The MXCSR bits this CPU has (FXSAVE's MXCSR_MASK): FXRSTOR and XRSTOR
    // fault on any other.
    uint32_t mxcsr_mask() const { return mxcsr_mask_; }

    // The state record's part (struct hv_guest_state: vcpu.xcr0, cr2, cr8,
    // dr0-3, dr6, the syscall MSRs, xsave_bytes and xsave), while the vCPU
    // does not run: between save() and the next load().
    void save_to(hv_guest_state& s) const;
    // s was accepted by state_refusal(): nothing here can fault. The next
    // load() loads all of it, on whichever CPU held this vCPU before.
    void restore_from(const hv_guest_state& s);

private:
    x86::XsaveFeatures features_{};
    unsigned linear_bits_ = 48;
    uint64_t id_ = 0;        // which vCPU a CPU holds (never reused)
    uint64_t area_ = 0;      // XSAVE/FXSAVE area, host-physical
    uint64_t area_frames_ = 0;
    uint64_t vapic_ = 0;     // virtual-APIC page, host-physical
    uint32_t mxcsr_mask_ = 0;
    uint64_t xcr0_ = x86::xcr0::X87;
    uint64_t dr_[4] = {}, dr6_ = 0, cr2_ = 0;
    uint64_t kernel_gs_base_ = 0, star_ = 0, lstar_ = 0, cstar_ = 0, fmask_ = 0;
};

}  // namespace hv
