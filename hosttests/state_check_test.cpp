// HV_HC_SET_STATE's checks (kernel/state_check.h): a control guest's record
// is accepted only if VM entry would take it (Intel SDM Vol. 3C, 27.3.1:
// control registers, RFLAGS, the activity and interruptibility states, the
// event to inject), if the hypervisor can load its registers without a
// fault of its own (canonical MSRs, DR6/DR7 bits 63:32, an XSAVE area
// XRSTOR takes), if the hypervisor can always take the CPU back from it,
// and if its devices are states the device models could reach.
#include "kernel/state_check.h"

#include <gtest/gtest.h>

#include <cstring>
#include <ostream>
#include <string>

#include "kernel/devices/legacy_platform.h"

namespace hv {
namespace {

constexpr uint64_t kRflagsFixed1 = 1ull << 1, kRflagsTf = 1ull << 8, kRflagsIf = 1ull << 9;
constexpr uint32_t kSti = 1u << 0, kMovSs = 1u << 1, kSmi = 1u << 2, kNmi = 1u << 3, kEnclave = 1u << 4;
constexpr uint32_t kShutdown = 2, kWaitForSipi = 3;
constexpr uint32_t kValid = 1u << 31, kErrorCode = 1u << 11;
constexpr uint32_t kExternal = 0u << 8, kNmiType = 2u << 8, kHwException = 3u << 8, kSoftInt = 4u << 8,
                   kSoftException = 6u << 8;

// Fixed bits and XSAVE as Bochs' Skylake-X reports them (unrestricted
// guest: PE and PG may be 0).
const vmx::Controls& controls() {
  static const vmx::Controls c = [] {
    vmx::Controls c{};
    c.cr0_fixed0 = 0x80000021, c.cr0_fixed1 = 0xffffffff;
    c.cr4_fixed0 = 0x2000, c.cr4_fixed1 = 0x3767ff;
    c.xsave = x86::XsaveFeatures{true, 0xe7, 2688};  // x87, SSE, AVX, AVX-512
    return c;
  }();
  return c;
}
constexpr uint64_t kTscHz = 50000000;  // Bochs'
StateLimits limits() { return StateLimits{controls(), 0xffff, 48, kTscHz, 1}; }

// A 64-bit guest as the runtime leaves it: paging, long mode, interrupts off.
hv_guest_state long_mode() {
  hv_guest_state s{};
  s.magic = HV_STATE_MAGIC, s.version = HV_STATE_VERSION, s.size = sizeof s;
  s.vcpu_index = 0, s.vcpu_count = 1;
  s.xsave_bytes = 2688;
  s.vcpu.cr0 = 0x80000031, s.vcpu.cr4 = 0x20, s.vcpu.efer = 0x500;
  s.vcpu.rflags = kRflagsFixed1;
  s.vcpu.pat = 0x0007040600070406ull;
  s.vcpu.dr6 = 0xffff0ff0, s.vcpu.dr7 = 0x400;
  s.vcpu.xcr0 = 7;
  s.vcpu.tsc = 1000000;
  std::memcpy(s.xsave + 24, "\x80\x1f\0\0", 4);  // MXCSR 0x1f80
  s.xsave[512] = 3;                               // XSTATE_BV: x87, SSE
  return s;
}

// A Linux guest's: its devices as a platform saves them, HLT allowed. By
// default as Linux leaves them: the 8259s initialised with IRQ0 unmasked and
// the 8254's counter 0 periodic; either can be left out.
hv_guest_state pc_guest(bool irq0_unmasked = true, bool pit_running = true) {
  hv_guest_state s = long_mode();
  s.flags = HV_STATE_PC_PLATFORM;
  s.platform_tsc0 = 500;
  devices::LegacyPlatform p{devices::ByteSink{}, devices::ResetLine{}};
  const uint8_t init[][2] = {{0x20, 0x11}, {0x21, 0x30}, {0x21, 0x04}, {0x21, 0x01},   // master: ICW1-4
                             {0xa0, 0x11}, {0xa1, 0x38}, {0xa1, 0x02}, {0xa1, 0x01}};  // slave
  for (const auto& w : init) p.write(w[0], 1, w[1], 5);
  p.write(0x21, 1, irq0_unmasked ? 0xfa : 0xfb, 6);  // OCW1: IRQ2 (cascade) and maybe IRQ0 open
  if (pit_running) {
    p.write(0x43, 1, 0x34, 10);  // counter 0, LSB then MSB, mode 2: Linux's periodic tick
    p.write(0x40, 1, 0xa9, 11);
    p.write(0x40, 1, 0x04, 12);
  }
  p.save(s.platform);
  return s;
}

std::string refusal(const hv_guest_state& s) {
  const char* why = state_refusal(s, limits());
  return why ? why : "";
}

TEST(StateCheck, TheRuntimesAndALinuxGuestsRecordsAreAccepted) {
  EXPECT_EQ(refusal(long_mode()), "");
  EXPECT_EQ(refusal(pc_guest()), "");
}

// A guest of three vCPUs: one record each, for a destination of three; one
// not started yet (HV_HC_START_VCPU) may be any but vCPU 0.
TEST(StateCheck, EachVcpusRecordOfASeveralVcpuGuest) {
  StateLimits three = limits();
  three.vcpus = 3;
  hv_guest_state s = long_mode();
  s.vcpu_count = 3;
  for (uint16_t i = 0; i < 3; ++i) {
    s.vcpu_index = i;
    EXPECT_EQ(state_refusal(s, three), nullptr) << "vCPU " << i;
  }
  s.vcpu.activity = HV_ACTIVITY_WAIT_START;
  EXPECT_EQ(state_refusal(s, three), nullptr);
  s.vcpu_index = 0;
  EXPECT_STREQ(state_refusal(s, three), "vcpu.activity: vCPU 0 waiting for a start (it starts with the guest)");
  s = long_mode();
  s.vcpu_count = 3, s.vcpu_index = 3;
  EXPECT_STREQ(state_refusal(s, three), "vcpu_index: not one of the guest's vCPUs");
  s.vcpu_index = 1, s.vcpu_count = 2;  // the source had two
  EXPECT_STREQ(state_refusal(s, three), "vcpu_count: not the guest's number of vCPUs");
  // A PC platform is a uniprocessor's.
  hv_guest_state pc = pc_guest();
  pc.vcpu_count = 3;
  EXPECT_STREQ(state_refusal(pc, three), "flags: the PC platform of a guest with several vCPUs");
}

// Each case breaks one field of a valid record; the refusal names it.
struct Broken {
  const char* field;  // what the refusal must name
  void (*spoil)(hv_guest_state&);
  bool pc = false;    // start from the Linux guest's record
};

void PrintTo(const Broken& b, std::ostream* os) { *os << b.field; }

class StateCheckRefuses : public ::testing::TestWithParam<Broken> {};

TEST_P(StateCheckRefuses, NamingTheField) {
  const Broken& b = GetParam();
  hv_guest_state s = b.pc ? pc_guest() : long_mode();
  b.spoil(s);
  const std::string why = refusal(s);
  EXPECT_NE(why.find(b.field), std::string::npos) << "refused with \"" << why << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    StateCheck, StateCheckRefuses,
    ::testing::Values(
        Broken{"magic", [](hv_guest_state& s) { s.magic = 0; }},
        Broken{"version", [](hv_guest_state& s) { s.version = 1; }},  // one vCPU, no index
        Broken{"size", [](hv_guest_state& s) { s.size = 8; }},
        Broken{"flags", [](hv_guest_state& s) { s.flags = 4; }},
        Broken{"vcpu_count", [](hv_guest_state& s) { s.vcpu_count = 2; }},
        Broken{"vcpu_index", [](hv_guest_state& s) { s.vcpu_index = 1; }},
        Broken{"vcpu.activity: vCPU 0 waiting", [](hv_guest_state& s) { s.vcpu.activity = HV_ACTIVITY_WAIT_START; }},
        Broken{"vcpu.cr0", [](hv_guest_state& s) { s.vcpu.cr0 |= 1ull << 40; }},
        Broken{"vcpu.cr0", [](hv_guest_state& s) { s.vcpu.cr0 &= ~1ull; }},  // PG without PE
        Broken{"vcpu.cr0", [](hv_guest_state& s) { s.vcpu.cr0 |= 1ull << 29; }},  // NW without CD
        Broken{"vcpu.cr4", [](hv_guest_state& s) { s.vcpu.cr4 |= 1ull << 13; }},  // VMXE is ours
        Broken{"vcpu.cr4", [](hv_guest_state& s) { s.vcpu.cr4 |= 1ull << 30; }},  // not on this CPU
        Broken{"vcpu.cr4", [](hv_guest_state& s) { s.vcpu.cr4 = 0; }},           // IA-32e without PAE
        Broken{"vcpu.efer", [](hv_guest_state& s) { s.vcpu.efer |= 1ull << 9; }},
        Broken{"vcpu.efer", [](hv_guest_state& s) { s.vcpu.efer &= ~(1ull << 10); }},  // LMA not LME && PG
        Broken{"vcpu.cr8", [](hv_guest_state& s) { s.vcpu.cr8 = 16; }},
        Broken{"vcpu.rflags", [](hv_guest_state& s) { s.vcpu.rflags = 0; }},
        Broken{"vcpu.rflags", [](hv_guest_state& s) { s.vcpu.rflags |= 1ull << 22; }},
        Broken{"vcpu.dr6", [](hv_guest_state& s) { s.vcpu.dr6 |= 1ull << 32; }},
        Broken{"vcpu.dr7", [](hv_guest_state& s) { s.vcpu.dr7 |= 1ull << 63; }},
        Broken{"vcpu.pat", [](hv_guest_state& s) { s.vcpu.pat = 0x0200000000000000ull; }},
        Broken{"vcpu.kernel_gs_base", [](hv_guest_state& s) { s.vcpu.kernel_gs_base = 1ull << 47; }},
        Broken{"vcpu.lstar", [](hv_guest_state& s) { s.vcpu.lstar = 0x0000800000000000ull; }},
        Broken{"vcpu.cstar", [](hv_guest_state& s) { s.vcpu.cstar = 0x8000000000000000ull; }},
        Broken{"vcpu.fmask", [](hv_guest_state& s) { s.vcpu.fmask = 1ull << 32; }},
        Broken{"vcpu.sysenter", [](hv_guest_state& s) { s.vcpu.sysenter_eip = 1ull << 50; }},
        Broken{"vcpu.fs/gs", [](hv_guest_state& s) { s.vcpu.gs.base = 1ull << 50; }},
        Broken{"vcpu.tsc_aux", [](hv_guest_state& s) { s.vcpu.tsc_aux = 1; }},
        Broken{"vcpu.reserved0", [](hv_guest_state& s) { s.vcpu.reserved0 = 1; }},
        Broken{"vcpu.xcr0", [](hv_guest_state& s) { s.vcpu.xcr0 = 2; }},             // x87 off
        Broken{"vcpu.xcr0", [](hv_guest_state& s) { s.vcpu.xcr0 = 1ull << 9 | 7; }},  // PKRU: not here
        Broken{"vcpu.xcr0", [](hv_guest_state& s) { s.vcpu.xcr0 = 0x27; }},           // AVX-512 in part
        Broken{"xsave_bytes", [](hv_guest_state& s) { s.xsave_bytes = 512; }},
        Broken{"xsave: MXCSR", [](hv_guest_state& s) { s.xsave[24 + 2] = 1; }},
        Broken{"xsave: XSTATE_BV", [](hv_guest_state& s) { s.xsave[512 + 1] = 2; }},  // bit 9
        Broken{"xsave: XCOMP_BV", [](hv_guest_state& s) { s.xsave[512 + 15] = 0x80; }},
        Broken{"xsave: XCOMP_BV", [](hv_guest_state& s) { s.xsave[512 + 40] = 1; }},  // reserved header byte
        Broken{"xsave: bytes beyond", [](hv_guest_state& s) { s.xsave[HV_XSAVE_AREA_MAX - 1] = 1; }},
        Broken{"vcpu.activity", [](hv_guest_state& s) { s.vcpu.activity = HV_ACTIVITY_HLT; }},  // not a PC guest
        Broken{"vcpu.activity", [](hv_guest_state& s) { s.vcpu.activity = kShutdown; }, true},
        Broken{"vcpu.activity", [](hv_guest_state& s) { s.vcpu.activity = kWaitForSipi; }, true},
        Broken{"vcpu.activity", [](hv_guest_state& s) { s.vcpu.activity = HV_ACTIVITY_HLT; }, true},  // IF clear
        Broken{"vcpu.activity",
               [](hv_guest_state& s) {
                 s.vcpu.activity = HV_ACTIVITY_HLT, s.vcpu.rflags |= kRflagsIf;
                 s.vcpu.pending_event = kValid | kExternal | 0x30;
               },
               true},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = 0x30; }},  // not valid
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | 1u << 20 | 0x30; }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | 1u << 8; }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | 7u << 8; }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kExternal | 0x30; }},
        Broken{"vcpu.pending_event",
               [](hv_guest_state& s) {
                 s.vcpu.rflags |= kRflagsIf, s.vcpu.interruptibility = kSti;
                 s.vcpu.pending_event = kValid | kExternal | 0x30;
               }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kNmiType | 3; }},
        Broken{"vcpu.pending_event",
               [](hv_guest_state& s) { s.vcpu.interruptibility = kNmi, s.vcpu.pending_event = kValid | kNmiType | 2; }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kHwException | 32; }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kHwException | 13; }},
        Broken{"vcpu.pending_event",
               [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kErrorCode | kHwException | 6; }},
        Broken{"vcpu.pending_event", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kSoftException | 5; }},
        Broken{"vcpu.pending_error_code",
               [](hv_guest_state& s) {
                 s.vcpu.pending_event = kValid | kErrorCode | kHwException | 13, s.vcpu.pending_error_code = 1u << 16;
               }},
        Broken{"vcpu.pending_instruction_len", [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kSoftInt | 0x80; }},
        Broken{"vcpu.pending_instruction_len",
               [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kSoftInt | 0x80, s.vcpu.pending_instruction_len = 16; }},
        Broken{"vcpu.pending_instruction_len",
               [](hv_guest_state& s) { s.vcpu.pending_event = kValid | kHwException | 6, s.vcpu.pending_instruction_len = 2; }},
        Broken{"vcpu.pending_debug_exceptions", [](hv_guest_state& s) { s.vcpu.pending_debug_exceptions = 1u << 4; }},
        Broken{"vcpu.pending_debug_exceptions",
               [](hv_guest_state& s) { s.vcpu.interruptibility = kMovSs, s.vcpu.pending_debug_exceptions = 1u << 14; }},
        Broken{"platform:", [](hv_guest_state& s) { reinterpret_cast<uint8_t*>(&s.platform)[5] = 1; }},
        Broken{"platform_tsc0", [](hv_guest_state& s) { s.platform_tsc0 = 1; }},
        Broken{"platform_tsc0", [](hv_guest_state& s) { s.platform_tsc0 = s.vcpu.tsc + 1; }, true},
        Broken{"platform:", [](hv_guest_state& s) { s.platform.pit.counter[0].mode = 9; }, true},
        // Idle in HLT with nothing that could wake it: the review's record
        // kept the run alive until its watchdog (on_hlt() ends such a guest).
        Broken{"vcpu.activity: HLT with no interrupt",
               [](hv_guest_state& s) {
                 s = pc_guest(false), s.vcpu.activity = HV_ACTIVITY_HLT, s.vcpu.rflags |= kRflagsIf;
               }},
        Broken{"vcpu.activity: HLT with no interrupt",
               [](hv_guest_state& s) {
                 s = pc_guest(true, false), s.vcpu.activity = HV_ACTIVITY_HLT, s.vcpu.rflags |= kRflagsIf;
               }},
        // The devices' clock ahead of the record's: the platform's ticks at
        // its TSC are (tsc - platform_tsc0) at 50 MHz; tick 12 needs 503 TSC
        // cycles after tick 0.
        Broken{"platform: the devices' time",
               [](hv_guest_state& s) { s.vcpu.tsc = s.platform_tsc0 + 400; }, true},
        Broken{"platform:", [](hv_guest_state& s) { s.platform.pic.master.vector_base = 0x31; }, true}));

// Events a vCPU in this state could have in flight are taken.
TEST(StateCheck, EventsInFlightAreAccepted) {
  struct Event {
    uint32_t info, error_code, len;
    uint64_t rflags;
  };
  for (const Event& e : {Event{kValid | kExternal | 0x30, 0, 0, kRflagsFixed1 | kRflagsIf},
                         Event{kValid | kNmiType | 2, 0, 0, kRflagsFixed1},
                         Event{kValid | kErrorCode | kHwException | 14, 2, 0, kRflagsFixed1},
                         Event{kValid | kHwException | 6, 0, 0, kRflagsFixed1},
                         Event{kValid | kSoftInt | 0x80, 0, 2, kRflagsFixed1},
                         Event{kValid | kSoftException | 3, 0, 1, kRflagsFixed1}}) {
    hv_guest_state s = long_mode();
    s.vcpu.pending_event = e.info, s.vcpu.pending_error_code = e.error_code, s.vcpu.pending_instruction_len = e.len;
    s.vcpu.rflags = e.rflags;
    EXPECT_EQ(refusal(s), "") << std::hex << "event 0x" << e.info;
  }
  hv_guest_state s = pc_guest();  // a Linux guest idling in HLT
  s.vcpu.activity = HV_ACTIVITY_HLT, s.vcpu.rflags |= kRflagsIf;
  EXPECT_EQ(refusal(s), "");
}

// The platform part the models accept is the one they saved: a record goes
// through check, restore and save unchanged.
TEST(StateCheck, APlatformRecordRoundTripsThroughTheCheck) {
  const hv_guest_state s = pc_guest();
  ASSERT_EQ(refusal(s), "");
  devices::LegacyPlatform p{devices::ByteSink{}, devices::ResetLine{}};
  ASSERT_TRUE(p.restore(s.platform));
  hv_platform_state again{};
  p.save(again);
  EXPECT_EQ(std::memcmp(&again, &s.platform, sizeof again), 0);
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

class StateInterruptibility : public ::testing::TestWithParam<Interruptibility> {};

TEST_P(StateInterruptibility, AsVmEntryChecksIt) {
  const Interruptibility& c = GetParam();
  hv_guest_state s = long_mode();
  s.vcpu.rflags = c.rflags, s.vcpu.interruptibility = c.bits;
  EXPECT_EQ(refusal(s).empty(), c.accepted) << refusal(s);
}

INSTANTIATE_TEST_SUITE_P(
    StateCheck, StateInterruptibility,
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
