#include "kernel/cpuid_policy.h"

namespace hv::cpuid_policy {
namespace {

// Bit names from the Intel SDM Vol. 2A, CPUID.
namespace leaf1_ecx {
constexpr uint32_t DTES64 = 1u << 2, MONITOR = 1u << 3, DS_CPL = 1u << 4, VMX = 1u << 5, SMX = 1u << 6,
                   EIST = 1u << 7, TM2 = 1u << 8, SDBG = 1u << 11, XTPR = 1u << 14, PDCM = 1u << 15,
                   PCID = 1u << 17, X2APIC = 1u << 21, TSC_DEADLINE = 1u << 24, OSXSAVE = 1u << 27,
                   HYPERVISOR = 1u << 31;
}
namespace leaf1_edx {
constexpr uint32_t MCE = 1u << 7, APIC = 1u << 9, MTRR = 1u << 12, MCA = 1u << 14, DS = 1u << 21,
                   ACPI = 1u << 22, HTT = 1u << 28, TM = 1u << 29, PBE = 1u << 31;
}
namespace leaf7_ebx {
constexpr uint32_t TSC_ADJUST = 1u << 1, SGX = 1u << 2, HLE = 1u << 4, INVPCID = 1u << 10, RTM = 1u << 11,
                   RDT_M = 1u << 12, MPX = 1u << 14, RDT_A = 1u << 15, PT = 1u << 25;
}
namespace leaf7_ecx {
constexpr uint32_t OSPKE = 1u << 4, WAITPKG = 1u << 5, RDPID = 1u << 22, SGX_LC = 1u << 30;
}
constexpr uint32_t kLeafDSub1Xsaves = 1u << 3;
constexpr uint32_t kLeaf6Arat = 1u << 2;
constexpr uint32_t kExt1EdxRdtscp = 1u << 27;
constexpr uint64_t kCr4Osxsave = 1u << 18, kCr4Pke = 1u << 22;

}  // namespace

Regs guest_view(uint32_t leaf, uint32_t sub, Regs r, const GuestFacts& g) {
    switch (leaf) {
    case 1:
        // No VMX (no nesting), no SMX, no MONITOR/MWAIT (they would exit),
        // no x2APIC, TSC deadline or APIC at all (guests have no local APIC:
        // Linux then runs on the 8259 and the PIT), no PCID (INVPCID is not
        // enabled), no performance or thermal monitoring, no MTRRs (guest
        // memory is write-back through the EPT), no machine checks (their
        // MSRs are not emulated). One logical processor, APIC ID 0.
        r.ecx &= ~(leaf1_ecx::DTES64 | leaf1_ecx::MONITOR | leaf1_ecx::DS_CPL | leaf1_ecx::VMX | leaf1_ecx::SMX |
                   leaf1_ecx::EIST | leaf1_ecx::TM2 | leaf1_ecx::SDBG | leaf1_ecx::XTPR | leaf1_ecx::PDCM |
                   leaf1_ecx::PCID | leaf1_ecx::X2APIC | leaf1_ecx::TSC_DEADLINE | leaf1_ecx::OSXSAVE);
        r.ecx |= leaf1_ecx::HYPERVISOR;
        if (g.cr4 & kCr4Osxsave) r.ecx |= leaf1_ecx::OSXSAVE;
        r.edx &= ~(leaf1_edx::MCE | leaf1_edx::APIC | leaf1_edx::MTRR | leaf1_edx::MCA | leaf1_edx::DS |
                   leaf1_edx::ACPI | leaf1_edx::HTT | leaf1_edx::TM | leaf1_edx::PBE);
        r.ebx = (r.ebx & 0xffff) | (1u << 16);
        return r;
    case 5:  // MONITOR/MWAIT
    case 0xa:  // architectural performance monitoring: no PMU
    case 0xb:  // x2APIC topology: no x2APIC
    case 0x1f:
        return {0, 0, 0, 0};
    case 6:
        // Power management: only "the APIC timer always runs" (ARAT), so that
        // Linux reads no APERF/MPERF on every tick.
        return {kLeaf6Arat, 0, 0, 0};
    case 7:
        if (sub != 0) return {0, 0, 0, 0};
        r.ebx &= ~(leaf7_ebx::TSC_ADJUST | leaf7_ebx::SGX | leaf7_ebx::HLE | leaf7_ebx::INVPCID | leaf7_ebx::RTM |
                   leaf7_ebx::RDT_M | leaf7_ebx::MPX | leaf7_ebx::RDT_A | leaf7_ebx::PT);
        r.ecx &= ~(leaf7_ecx::OSPKE | leaf7_ecx::WAITPKG | leaf7_ecx::RDPID | leaf7_ecx::SGX_LC);
        if (g.cr4 & kCr4Pke) r.ecx |= leaf7_ecx::OSPKE;
        r.edx = 0;  // speculation controls and their MSRs are not emulated
        return r;
    case 0xd:
        // XSAVES/XRSTORS are not enabled. CPUID.(0xD,0).EBX, the area for
        // the XCR0 in force, is right as it is: the guest's XCR0 is loaded
        // while it runs (kernel/vcpu_context.h).
        if (sub == 1) r.eax &= ~kLeafDSub1Xsaves;
        return r;
    case 0x15:
        // TSC and core crystal clock: TSC = ECX * EBX / EAX Hz. The rate the
        // hypervisor measured, so that a guest never calibrates (Bochs
        // declares 3.5 GHz here but counts at its ips rate).
        if (g.tsc_hz <= 0xffffffffu) return {1, 1, uint32_t(g.tsc_hz), 0};
        return {1, uint32_t(g.tsc_hz / 1000), 1000, 0};
    case 0x16: {
        const uint32_t mhz = uint32_t((g.tsc_hz + 500000) / 1000000);  // nearest: 49.998 MHz is 50
        return {mhz, mhz, 100, 0};
    }
    case kHypervisorLeaf:
        return {kHypervisorLeaf, 0x7263694d, 0x5669486f, 0x726f7369};
    case 0x80000001:
        r.edx &= ~kExt1EdxRdtscp;  // RDTSCP is not enabled: it would #UD
        return r;
    default:
        if (leaf > kHypervisorLeaf && leaf < 0x80000000) return {0, 0, 0, 0};
        return r;
    }
}

}  // namespace hv::cpuid_policy
