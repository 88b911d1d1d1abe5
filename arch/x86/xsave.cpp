#include "arch/x86/xsave.h"

#include "arch/x86/cpu.h"

namespace hv::x86 {
namespace {

constexpr uint32_t kCpuid1EcxXsave = 1u << 26;
constexpr uint32_t kCpuidXsaveLeaf = 0xd;

}  // namespace

XsaveFeatures xsave_features() {
    if (!(cpuid(1).ecx & kCpuid1EcxXsave)) return {false, xcr0::X87 | xcr0::SSE, kFxsaveBytes};
    // Sub-leaf 0: EDX:EAX the XCR0 bits supported, ECX the area size for all
    // of them (Intel SDM Vol. 1, 13.2).
    CpuidResult r = cpuid(kCpuidXsaveLeaf, 0);
    return {true, uint64_t(r.edx) << 32 | r.eax, r.ecx};
}

void enable_xsave(const XsaveFeatures& f) {
    uint64_t cr4 = read_cr4() | cr4::OSFXSR | cr4::OSXMMEXCPT;
    if (f.xsave) cr4 |= cr4::OSXSAVE;
    write_cr4(cr4);
    if (f.xsave) xsetbv(0, f.supported);
}

}  // namespace hv::x86
