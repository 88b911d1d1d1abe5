// HV_HC_SET_VCPU_STATE's checks: a control guest's state is accepted only if
// VM entry would take it (Intel SDM Vol. 3C, 27.3.1: control registers,
// RFLAGS, and 27.3.1.5, the activity and interruptibility states) and the
// hypervisor can always take the CPU back from it (the active state only).
#include "kernel/vcpu_state_check.h"

#include <gtest/gtest.h>

#include <ostream>

namespace hv {
namespace {

constexpr uint64_t kRflagsFixed1 = 1ull << 1, kRflagsTf = 1ull << 8, kRflagsIf = 1ull << 9;
constexpr uint32_t kSti = 1u << 0, kMovSs = 1u << 1, kSmi = 1u << 2, kNmi = 1u << 3, kEnclave = 1u << 4;
constexpr uint32_t kActive = 0, kHlt = 1, kShutdown = 2, kWaitForSipi = 3;

// Fixed bits as Bochs' Skylake-X reports them (unrestricted guest: PE and PG may be 0).
vmx::Controls controls() {
  vmx::Controls c{};
  c.cr0_fixed0 = 0x80000021, c.cr0_fixed1 = 0xffffffff;
  c.cr4_fixed0 = 0x2000, c.cr4_fixed1 = 0x3767ff;
  return c;
}

// A 64-bit guest as the runtime leaves it: paging, long mode, interrupts off.
hv_vcpu_state long_mode() {
  hv_vcpu_state s{};
  s.cr0 = 0x80000031, s.cr4 = 0x2020, s.efer = 0x500;
  s.rflags = kRflagsFixed1;
  return s;
}

bool accepts(uint64_t rflags, uint32_t interruptibility, uint32_t activity) {
  hv_vcpu_state s = long_mode();
  s.rflags = rflags, s.interruptibility = interruptibility, s.activity = activity;
  return vcpu_state_acceptable(s, controls());
}

TEST(VcpuStateCheck, TheRuntimeStateIsAccepted) { EXPECT_TRUE(vcpu_state_acceptable(long_mode(), controls())); }

TEST(VcpuStateCheck, ControlRegistersAndRflagsAgainstFixedBits) {
  hv_vcpu_state s = long_mode();
  s.cr4 = 0;  // VMXE is fixed to 1
  EXPECT_FALSE(vcpu_state_acceptable(s, controls()));
  s = long_mode(), s.rflags = 0;  // bit 1 is fixed to 1
  EXPECT_FALSE(vcpu_state_acceptable(s, controls()));
  s = long_mode(), s.efer |= 1ull << 9;
  EXPECT_FALSE(vcpu_state_acceptable(s, controls()));
}

// HLT stops a guest here (no interrupt source could wake it); in shutdown
// and wait-for-SIPI the vCPU takes neither the preemption timer nor the kick.
TEST(VcpuStateCheck, OnlyTheActiveStateIsAccepted) {
  EXPECT_TRUE(accepts(kRflagsFixed1, 0, kActive));
  for (uint32_t a : {kHlt, kShutdown, kWaitForSipi, 4u, 0x80000000u, ~0u})
    EXPECT_FALSE(accepts(kRflagsFixed1, 0, a)) << "activity " << a;
}

struct Interruptibility {
  uint64_t rflags;
  uint32_t bits;
  bool accepted;
};

void PrintTo(const Interruptibility& c, std::ostream* os) {
  *os << "rflags 0x" << std::hex << c.rflags << ", interruptibility 0x" << c.bits << std::dec
      << (c.accepted ? ": accepted" : ": refused");
}

class VcpuStateInterruptibility : public ::testing::TestWithParam<Interruptibility> {};

TEST_P(VcpuStateInterruptibility, AsVmEntryChecksIt) {
  const Interruptibility& c = GetParam();
  EXPECT_EQ(accepts(c.rflags, c.bits, kActive), c.accepted);
}

INSTANTIATE_TEST_SUITE_P(
    VcpuStateCheck, VcpuStateInterruptibility,
    ::testing::Values(Interruptibility{kRflagsFixed1, 0, true},
                      Interruptibility{kRflagsFixed1 | kRflagsIf, kSti, true},
                      Interruptibility{kRflagsFixed1, kSti, false},                       // STI blocking needs IF=1
                      Interruptibility{kRflagsFixed1, kMovSs, true},
                      Interruptibility{kRflagsFixed1 | kRflagsIf, kMovSs, true},
                      Interruptibility{kRflagsFixed1 | kRflagsIf, kSti | kMovSs, false},  // not both
                      Interruptibility{kRflagsFixed1, kNmi, true},
                      Interruptibility{kRflagsFixed1, kMovSs | kNmi, true},
                      Interruptibility{kRflagsFixed1, kSmi, false},                       // not in SMM
                      Interruptibility{kRflagsFixed1, kEnclave, false},                   // no enclaves
                      Interruptibility{kRflagsFixed1, 1u << 5, false},                    // reserved 31:5
                      Interruptibility{kRflagsFixed1, 1u << 17, false},
                      Interruptibility{kRflagsFixed1, 1u << 31, false},
                      // A pending single-step would be needed (pending debug exceptions' BS).
                      Interruptibility{kRflagsFixed1 | kRflagsIf | kRflagsTf, kSti, false},
                      Interruptibility{kRflagsFixed1 | kRflagsTf, kMovSs, false},
                      Interruptibility{kRflagsFixed1 | kRflagsTf, 0, true},
                      Interruptibility{kRflagsFixed1 | kRflagsTf, kNmi, true}));

}  // namespace
}  // namespace hv
