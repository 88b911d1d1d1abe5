// Writes to control registers that exit. MOV to CR0 or CR4 exits when it
// would change a bit the hypervisor owns (the guest/host masks of
// arch/x86/vmx/vmcs.cpp: CR0.NE and CR4.VMXE, which VMX fixes to 1, CR0.CD
// and CR0.NW, which VM entry and exit do not switch, and any bit the CPU
// does not have); the exit comes before the processor's own
// checks of the value, so they are made here, on the whole value as the
// guest sees it: an illegal one is a #GP for the guest, as on hardware; a
// legal one is applied, the owned bits kept at what VMX needs and shown to
// the guest as written (the read shadow). XSETBV always exits: XCR0 is kept
// per vCPU (kernel/vcpu_context.h).
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/exit_qualification.h"
#include "arch/x86/vmx/instructions.h"
#include "kernel/vm.h"

namespace hv {
namespace {

using F = vmx::VmcsField;
namespace cr0 = x86::cr0;
namespace cr4 = x86::cr4;

uint64_t rd(F f) { return vmx::vmread(f); }

// The value the guest sees: its own bits from the register, the
// hypervisor's from the read shadow.
uint64_t guest_view(F reg, F shadow, F mask) {
    uint64_t m = rd(mask);
    return (rd(reg) & ~m) | (rd(shadow) & m);
}
uint64_t guest_cr0() { return guest_view(F::GUEST_CR0, F::CR0_READ_SHADOW, F::CR0_GUEST_HOST_MASK); }
uint64_t guest_cr4() { return guest_view(F::GUEST_CR4, F::CR4_READ_SHADOW, F::CR4_GUEST_HOST_MASK); }

// The register VMX runs for a guest's view of CR0 or CR4, and its shadow.
// With unrestricted guest, PE and PG are the guest's despite FIXED0; CD and
// NW are the guest's in the shadow only (arch/x86/vmx/vmcs.cpp).
void set_cr0(const vmx::Controls& c, uint64_t v) {
    vmx::vmwrite(F::GUEST_CR0, ((v & ~(cr0::CD | cr0::NW)) | (c.cr0_fixed0 & ~(cr0::PE | cr0::PG))) & c.cr0_fixed1);
    vmx::vmwrite(F::CR0_READ_SHADOW, v);
}
void set_cr4(const vmx::Controls& c, uint64_t v) {
    vmx::vmwrite(F::GUEST_CR4, (v | c.cr4_fixed0) & c.cr4_fixed1);
    vmx::vmwrite(F::CR4_READ_SHADOW, v);
}

// CR0's architectural bits (Intel SDM Vol. 3A, 2.5): other bits in 31:0 are
// reserved and ignored when written, bits 63:32 are a #GP.
constexpr uint64_t kCr0Bits = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::ET | cr0::NE | cr0::WP | cr0::AM |
                              cr0::NW | cr0::CD | cr0::PG;
constexpr uint32_t kCsArLong = 1u << 13;  // CS.L in the VMCS access rights

// MOV to CR0's #GP conditions (Intel SDM Vol. 3A, 2.5 and MOV--Move to/from
// Control Registers), then the write. Paging turned on or off with EFER.LME
// set enters or leaves IA-32e mode, which the CPU would do itself: here EFER.LMA
// and the "IA-32e mode guest" entry control follow.
bool write_cr0(const vmx::Controls& c, uint64_t v) {
    if (v >> 32) return false;
    v = (v & kCr0Bits) | cr0::ET;  // ET is fixed to 1 since the P6
    const uint64_t old = guest_cr0(), cr4 = guest_cr4(), efer = rd(F::GUEST_IA32_EFER);
    const bool paging_on = (v & cr0::PG) && !(old & cr0::PG), paging_off = !(v & cr0::PG) && (old & cr0::PG);
    if ((v & cr0::PG) && !(v & cr0::PE)) return false;
    if ((v & cr0::NW) && !(v & cr0::CD)) return false;
    if (paging_on && (efer & x86::efer::LME) && !(cr4 & cr4::PAE)) return false;
    if (paging_off && (efer & x86::efer::LMA) && (rd(F::GUEST_CS_AR_BYTES) & kCsArLong)) return false;  // 64-bit mode
    if (paging_off && (cr4 & cr4::PCIDE)) return false;
    if (!(v & cr0::WP) && (cr4 & cr4::CET)) return false;
    set_cr0(c, v);
    if ((paging_on || paging_off) && (efer & x86::efer::LME)) {
        uint64_t entry = rd(F::VM_ENTRY_CONTROLS) & ~uint64_t(vmx::entry_ctl::IA32E_MODE_GUEST);
        if (paging_on) entry |= vmx::entry_ctl::IA32E_MODE_GUEST;
        vmx::vmwrite(F::VM_ENTRY_CONTROLS, entry);
        vmx::vmwrite(F::GUEST_IA32_EFER, paging_on ? efer | x86::efer::LMA : efer & ~x86::efer::LMA);
    }
    return true;
}

// MOV to CR4's #GP conditions: a bit the CPU does not have (FIXED1 says
// which it has) or VMXE (VMX is not offered to guests: CPUID.1:ECX.VMX is
// 0); PAE cleared or LA57 changed in IA-32e mode; PCIDE set outside IA-32e
// mode or with CR3[11:0] not 0; CET set with CR0.WP clear.
bool write_cr4(const vmx::Controls& c, uint64_t v) {
    const uint64_t old = guest_cr4(), efer = rd(F::GUEST_IA32_EFER);
    const bool ia32e = efer & x86::efer::LMA;
    if (v & ~(c.cr4_fixed1 & ~cr4::VMXE)) return false;
    if (ia32e && (!(v & cr4::PAE) || ((v ^ old) & cr4::LA57))) return false;
    if ((v & cr4::PCIDE) && !(old & cr4::PCIDE) && (!ia32e || (rd(F::GUEST_CR3) & 0xfff))) return false;
    if ((v & cr4::CET) && !(guest_cr0() & cr0::WP)) return false;
    set_cr4(c, v);
    return true;
}

}  // namespace

uint64_t Vcpu::cr0_view() { return guest_cr0(); }
uint64_t Vcpu::cr4_view() { return guest_cr4(); }
void Vcpu::set_cr0_cr4(uint64_t cr0, uint64_t cr4) {
    set_cr0(controls_, cr0);
    set_cr4(controls_, cr4);
}

Vcpu::Next Vcpu::on_cr_access() {
    using namespace vmx::cr_qual;
    const uint64_t q = rd(F::EXIT_QUALIFICATION);
    const unsigned cr = unsigned(q & CR_MASK), reg = unsigned(q >> GPR_SHIFT & GPR_MASK);
    const Access access = Access(q >> ACCESS_SHIFT & ACCESS_MASK);
    // Only MOV to CR0 and CR4 can exit: no CR3 or CR8 exiting, and LMSW and
    // CLTS touch no bit the hypervisor owns.
    if (access != Access::MovToCr || (cr != 0 && cr != 4))
        return stop(Outcome::Unexpected, "control-register access not emulated (CR%u, access type %u) at rip=0x%lx", cr,
                    unsigned(access), rd(F::GUEST_RIP));
    uint64_t v = reg == 4 ? rd(F::GUEST_RSP) : *gpr(regs_, reg);
    // Outside 64-bit mode the operand is the register's low 32 bits: its
    // upper half (left from long mode, or never cleared) is not the value.
    const bool mode64 = (rd(F::GUEST_IA32_EFER) & x86::efer::LMA) && (rd(F::GUEST_CS_AR_BYTES) & kCsArLong);
    if (!mode64) v = uint32_t(v);
    if (!(cr == 0 ? write_cr0(controls_, v) : write_cr4(controls_, v))) {
        inject_gp();
        return Next::Resume;
    }
    skip_instruction();
    return Next::Resume;
}

Vcpu::Next Vcpu::on_xsetbv() {
    // ECX names the XCR: only XCR0 is writable. CPL > 0 and CR4.OSXSAVE = 0
    // fault before the exit.
    const uint64_t v = (regs_.rdx << 32) | uint32_t(regs_.rax);
    if (uint32_t(regs_.rcx) != 0 || !context_.set_xcr0(v)) {
        inject_gp();
        return Next::Resume;
    }
    skip_instruction();
    return Next::Resume;
}

}  // namespace hv
