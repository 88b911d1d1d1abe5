// Specification of the CPUID a guest sees (kernel/cpuid_policy.h).
#include "kernel/cpuid_policy.h"

#include <gtest/gtest.h>

namespace hv::cpuid_policy {
namespace {

constexpr Regs kAllOnes{~0u, ~0u, ~0u, ~0u};
constexpr GuestFacts kFacts{50'000'000, 0};

TEST(CpuidPolicy, Leaf1HidesVmxApicAndMonitorAndSaysHypervisor) {
    const Regs r = guest_view(1, 0, kAllOnes, kFacts);
    EXPECT_EQ(r.ecx & (1u << 5), 0u) << "VMX";
    EXPECT_EQ(r.ecx & (1u << 3), 0u) << "MONITOR";
    EXPECT_EQ(r.ecx & (1u << 21), 0u) << "x2APIC";
    EXPECT_EQ(r.ecx & (1u << 15), 0u) << "PDCM";
    EXPECT_EQ(r.edx & (1u << 9), 0u) << "APIC: guests have none";
    EXPECT_EQ(r.edx & (1u << 12), 0u) << "MTRR";
    EXPECT_NE(r.ecx & (1u << 31), 0u) << "hypervisor present";
    EXPECT_EQ(r.ecx & (1u << 27), 0u) << "OSXSAVE follows the guest's CR4, which is 0";
    EXPECT_NE(guest_view(1, 0, kAllOnes, {50'000'000, 1u << 18}).ecx & (1u << 27), 0u);
    EXPECT_EQ(r.ebx >> 16, 1u) << "one logical processor, APIC ID 0";
}

TEST(CpuidPolicy, Leaf6IsOnlyArat) {
    const Regs r = guest_view(6, 0, kAllOnes, kFacts);
    EXPECT_EQ(r.eax, 1u << 2);
    EXPECT_EQ(r.ebx | r.ecx | r.edx, 0u);
}

TEST(CpuidPolicy, NoPmuNoX2apicTopology) {
    for (uint32_t leaf : {0xau, 0xbu, 0x1fu, 5u}) {
        const Regs r = guest_view(leaf, 0, kAllOnes, kFacts);
        EXPECT_EQ(r.eax | r.ebx | r.ecx | r.edx, 0u) << "leaf " << leaf;
    }
}

TEST(CpuidPolicy, Leaves15And16ReportTheMeasuredTscRate) {
    const Regs r15 = guest_view(0x15, 0, kAllOnes, kFacts);
    ASSERT_NE(r15.eax, 0u);
    EXPECT_EQ(uint64_t(r15.ecx) * r15.ebx / r15.eax, 50'000'000u) << "TSC = crystal * EBX / EAX";
    EXPECT_EQ(guest_view(0x16, 0, kAllOnes, kFacts).eax, 50u) << "base MHz";
    const Regs big = guest_view(0x15, 0, kAllOnes, {6'000'000'000ull, 0});
    EXPECT_EQ(uint64_t(big.ecx) * big.ebx / big.eax, 6'000'000'000ull) << "above 2^32 Hz";
}

TEST(CpuidPolicy, Leaf7HidesWhatIsNotEnabled) {
    const Regs r = guest_view(7, 0, kAllOnes, kFacts);
    EXPECT_EQ(r.ebx & (1u << 10), 0u) << "INVPCID";
    EXPECT_EQ(r.ecx & (1u << 22), 0u) << "RDPID";
    EXPECT_EQ(r.edx, 0u) << "speculation-control MSRs";
    EXPECT_NE(r.ebx & 1u, 0u) << "FSGSBASE stays";
    EXPECT_EQ(guest_view(7, 1, kAllOnes, kFacts).eax, 0u);
}

TEST(CpuidPolicy, NoRdtscpNoXsaves) {
    EXPECT_EQ(guest_view(0x80000001, 0, kAllOnes, kFacts).edx & (1u << 27), 0u);
    EXPECT_EQ(guest_view(0xd, 1, kAllOnes, kFacts).eax & (1u << 3), 0u);
}

TEST(CpuidPolicy, HypervisorLeafSignature) {
    const Regs r = guest_view(kHypervisorLeaf, 0, kAllOnes, kFacts);
    char sig[13] = {};
    __builtin_memcpy(sig, &r.ebx, 4), __builtin_memcpy(sig + 4, &r.ecx, 4), __builtin_memcpy(sig + 8, &r.edx, 4);
    EXPECT_STREQ(sig, "MicroHiVisor");
    EXPECT_EQ(guest_view(kHypervisorLeaf + 1, 0, kAllOnes, kFacts).eax, 0u) << "no further hypervisor leaves";
}

}  // namespace
}  // namespace hv::cpuid_policy
