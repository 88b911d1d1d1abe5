#include "kernel/state_check.h"

#include "arch/x86/cpu.h"
#include "arch/x86/vmx/guest_state.h"
#include "arch/x86/xsave.h"
#include "kernel/devices/legacy_platform.h"

namespace hv {
namespace {

namespace blocking = vmx::interruptibility;
namespace cr0 = x86::cr0;
namespace cr4 = x86::cr4;
namespace efer = x86::efer;

constexpr uint32_t kStiOrMovSs = blocking::BLOCKING_BY_STI | blocking::BLOCKING_BY_MOV_SS;

// CR0's architectural bits (Intel SDM Vol. 3A, 2.5).
constexpr uint64_t kCr0Bits = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::ET | cr0::NE | cr0::WP | cr0::AM |
                              cr0::NW | cr0::CD | cr0::PG;
constexpr uint64_t kEferValid = efer::SCE | efer::LME | efer::LMA | efer::NXE;
constexpr uint64_t kRflagsReserved = 0xffffffffffc08028ull;  // bits 3, 5, 15, 22-63
constexpr uint64_t kFmaskReserved = 0xffffffff00000000ull;
constexpr uint64_t kHigh32 = 0xffffffff00000000ull;

// Event injection (VM-entry interruption information, Intel SDM Vol. 3C,
// 25.8.3, checked by VM entry as 27.2.1.3 lists).
constexpr uint32_t kEventValid = 1u << 31, kEventErrorCode = 1u << 11, kEventReserved = 0x7ffff000u;
constexpr unsigned kEventTypeShift = 8;
enum class EventType : uint32_t {
    External = 0, Reserved = 1, Nmi = 2, HardwareException = 3, SoftwareInterrupt = 4,
    PrivilegedSoftwareException = 5, SoftwareException = 6, Other = 7,
};
// The exceptions that push an error code (#DF, #TS, #NP, #SS, #GP, #PF,
// #AC). #CP (21) would be one too, but CET is not offered to guests.
constexpr uint32_t kErrorCodeVectors = (1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) |
                                       (1u << 17);
constexpr uint32_t kNmiVector = 2, kDbVector = 1, kBpVector = 3, kOfVector = 4, kCpVector = 21;
constexpr uint32_t kMaxInstructionLen = 15;

// Pending debug exceptions (25.4.2): B3-B0, enabled breakpoint (12), BS
// (14), RTM (16); the rest is reserved and VM entry refuses it.
constexpr uint64_t kPendingDebugBits = 0xfull | (1ull << 12) | (1ull << 14) | (1ull << 16);
constexpr uint64_t kPendingDebugBs = 1ull << 14;

// The XSAVE header (Intel SDM Vol. 1, 13.4.2) follows the 512-byte legacy
// region: XSTATE_BV, then XCOMP_BV, then 48 reserved bytes. XRSTOR of the
// standard form faults on an XSTATE_BV bit it does not restore, on
// XCOMP_BV's bit 63 if the CPU has no compaction, and on bytes 8-63 not 0.
constexpr unsigned kXsaveHeader = x86::kFxsaveBytes, kXsaveHeaderBytes = 64;

bool canonical(uint64_t a, unsigned bits) { return x86::is_canonical(a, bits); }

uint64_t load64(const uint8_t* p) {
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
}
uint32_t load32(const uint8_t* p) { return uint32_t(load64(p) & 0xffffffff); }

// The guest's view of CR0 and CR4, as MOV to CR checks it (kernel/vm_cr.cpp)
// and as VM entry checks the registers derived from it.
const char* control_registers(const hv_vcpu_state& v, const vmx::Controls& c) {
    if (v.cr0 & ~kCr0Bits) return "vcpu.cr0: a reserved bit";
    if ((v.cr0 & cr0::PG) && !(v.cr0 & cr0::PE)) return "vcpu.cr0: PG without PE";
    if ((v.cr0 & cr0::NW) && !(v.cr0 & cr0::CD)) return "vcpu.cr0: NW without CD";
    // VMXE is the hypervisor's (CPUID offers no VMX): the guest's view is 0.
    if (v.cr4 & ~(c.cr4_fixed1 & ~cr4::VMXE)) return "vcpu.cr4: a bit this CPU does not have, or VMXE";
    if (v.efer & ~kEferValid) return "vcpu.efer: a reserved bit";
    const bool lma = v.efer & efer::LMA;
    if (lma != ((v.efer & efer::LME) && (v.cr0 & cr0::PG))) return "vcpu.efer: LMA is not LME and CR0.PG";
    if (lma && !(v.cr4 & cr4::PAE)) return "vcpu.cr4: IA-32e mode without PAE";
    if (!lma && (v.cr4 & cr4::PCIDE)) return "vcpu.cr4: PCIDE outside IA-32e mode";
    if ((v.cr4 & cr4::CET) && !(v.cr0 & cr0::WP)) return "vcpu.cr4: CET without CR0.WP";
    if (v.cr8 > 15) return "vcpu.cr8: above 15";
    if (!(v.rflags & x86::rflags::FIXED1) || (v.rflags & kRflagsReserved))
        return "vcpu.rflags: bit 1 clear or a reserved bit set";
    return nullptr;
}

// Registers the hypervisor itself loads with MOV or WRMSR (a refused value
// would be its own #GP), and those VM entry checks.
const char* other_registers(const hv_vcpu_state& v, unsigned bits) {
    if (v.dr6 & kHigh32) return "vcpu.dr6: bits 63:32";
    if (v.dr7 & kHigh32) return "vcpu.dr7: bits 63:32";
    for (unsigned i = 0; i < 8; ++i) {
        const unsigned type = unsigned(v.pat >> (8 * i)) & 0xff;
        if (type == 2 || type == 3 || type > 7) return "vcpu.pat: a reserved memory type";
    }
    if (!canonical(v.kernel_gs_base, bits)) return "vcpu.kernel_gs_base: not canonical";
    if (!canonical(v.lstar, bits)) return "vcpu.lstar: not canonical";
    if (!canonical(v.cstar, bits)) return "vcpu.cstar: not canonical";
    if (v.fmask & kFmaskReserved) return "vcpu.fmask: bits 63:32";
    if (!canonical(v.sysenter_esp, bits) || !canonical(v.sysenter_eip, bits))
        return "vcpu.sysenter_esp/eip: not canonical";
    if (!canonical(v.fs.base, bits) || !canonical(v.gs.base, bits)) return "vcpu.fs/gs base: not canonical";
    if (v.tsc_aux) return "vcpu.tsc_aux: not 0 (RDTSCP is not offered)";
    if (v.reserved0) return "vcpu.reserved0: not 0";
    return nullptr;
}

// The event in flight, as VM entry checks an injection.
const char* pending_event(const hv_vcpu_state& v) {
    const uint32_t e = v.pending_event;
    if (!(e & kEventValid)) {
        if (e || v.pending_error_code || v.pending_instruction_len) return "vcpu.pending_event: fields without valid";
        return nullptr;
    }
    if (e & kEventReserved) return "vcpu.pending_event: reserved bits 30:12";
    const uint32_t vector = e & 0xff;
    const EventType type = EventType((e >> kEventTypeShift) & 7);
    const bool error_code = e & kEventErrorCode;
    switch (type) {
    case EventType::External:
        if (!(v.rflags & x86::rflags::IF) || (v.interruptibility & kStiOrMovSs))
            return "vcpu.pending_event: an interrupt the vCPU cannot take (IF clear, or STI/MOV-SS blocking)";
        break;
    case EventType::Nmi:
        if (vector != kNmiVector) return "vcpu.pending_event: an NMI not on vector 2";
        if (v.interruptibility & (blocking::BLOCKING_BY_MOV_SS | blocking::BLOCKING_BY_NMI))
            return "vcpu.pending_event: an NMI under MOV-SS or NMI blocking";
        break;
    case EventType::HardwareException:
        if (vector > 31 || vector == kNmiVector || vector == kCpVector)
            return "vcpu.pending_event: not a hardware exception vector";
        break;
    case EventType::SoftwareInterrupt:
        break;
    case EventType::PrivilegedSoftwareException:
        if (vector != kDbVector) return "vcpu.pending_event: INT1 not on vector 1";
        break;
    case EventType::SoftwareException:
        if (vector != kBpVector && vector != kOfVector) return "vcpu.pending_event: INT3/INTO not on 3 or 4";
        break;
    case EventType::Reserved:
    case EventType::Other:
        return "vcpu.pending_event: a reserved type, or an MTF event";
    }
    // The deliver-error-code bit is set exactly for the hardware exceptions
    // that push one, in protected mode (27.2.1.3).
    const bool wants_code = type == EventType::HardwareException && (v.cr0 & cr0::PE) &&
                            (kErrorCodeVectors >> vector & 1);
    if (error_code != wants_code) return "vcpu.pending_event: the error-code bit does not fit the exception";
    if (!error_code && v.pending_error_code) return "vcpu.pending_error_code: without the error-code bit";
    if (v.pending_error_code >> 16) return "vcpu.pending_error_code: bits 31:16";
    const bool software = type == EventType::SoftwareInterrupt || type == EventType::PrivilegedSoftwareException ||
                          type == EventType::SoftwareException;
    if (software ? v.pending_instruction_len == 0 || v.pending_instruction_len > kMaxInstructionLen
                 : v.pending_instruction_len != 0)
        return "vcpu.pending_instruction_len: not 1-15 for a software event, or not 0 for another";
    return nullptr;
}

// The interruptibility and activity states (27.3.1.5). Only the active
// state, or, for a PC-platform guest, HLT as the hypervisor models it (the
// vCPU idles outside VMX until its next interrupt): in shutdown or
// wait-for-SIPI a vCPU takes neither the VMX-preemption timer nor the kick,
// and its CPU would be lost to the hypervisor for good.
const char* interruptibility(const hv_vcpu_state& v, bool pc, bool boot_vcpu) {
    constexpr uint32_t kKnown = blocking::BLOCKING_BY_STI | blocking::BLOCKING_BY_MOV_SS |
                                blocking::BLOCKING_BY_SMI | blocking::BLOCKING_BY_NMI |
                                blocking::ENCLAVE_INTERRUPTION;
    const uint32_t i = v.interruptibility;
    if (i & ~kKnown) return "vcpu.interruptibility: reserved bits 31:5";
    if ((i & kStiOrMovSs) == kStiOrMovSs) return "vcpu.interruptibility: both STI and MOV-SS blocking";
    if ((i & blocking::BLOCKING_BY_STI) && !(v.rflags & x86::rflags::IF))
        return "vcpu.interruptibility: STI blocking with IF clear";
    if (i & (blocking::BLOCKING_BY_SMI | blocking::ENCLAVE_INTERRUPTION))
        return "vcpu.interruptibility: SMI blocking or an enclave interruption";
    // With STI or MOV-SS blocking and TF set, VM entry requires the pending
    // single-step (BS); with TF clear it requires BS clear.
    if ((i & kStiOrMovSs) && (v.rflags & x86::rflags::TF))
        return "vcpu.interruptibility: STI/MOV-SS blocking with RFLAGS.TF set";
    if (v.pending_debug_exceptions & ~kPendingDebugBits) return "vcpu.pending_debug_exceptions: reserved bits";
    if ((i & kStiOrMovSs) && (v.pending_debug_exceptions & kPendingDebugBs))
        return "vcpu.pending_debug_exceptions: BS under STI/MOV-SS blocking with TF clear";
    if (v.activity == HV_ACTIVITY_ACTIVE) return nullptr;
    // Not started: its CPU does not enter it at all until HV_HC_START_VCPU.
    if (v.activity == HV_ACTIVITY_WAIT_START)
        return boot_vcpu ? "vcpu.activity: vCPU 0 waiting for a start (it starts with the guest)" : nullptr;
    if (v.activity != HV_ACTIVITY_HLT || !pc) return "vcpu.activity: not active (or HLT of a PC-platform guest)";
    if (!(v.rflags & x86::rflags::IF)) return "vcpu.activity: HLT with IF clear (nothing could wake it)";
    if (v.pending_event & kEventValid) return "vcpu.activity: HLT with an event pending";
    return nullptr;
}

const char* extended_state(const hv_guest_state& s, const StateLimits& l) {
    const x86::XsaveFeatures& f = l.controls.xsave;
    const uint32_t bytes = f.xsave ? f.bytes : x86::kFxsaveBytes;
    if (s.xsave_bytes != bytes || bytes > HV_XSAVE_AREA_MAX)
        return "xsave_bytes: not this CPU's save-area size";
    if (f.xsave ? !xcr0_acceptable(s.vcpu.xcr0, f.supported) : s.vcpu.xcr0 != x86::xcr0::X87)
        return "vcpu.xcr0: XSETBV would refuse it";
    if (load32(s.xsave + x86::kMxcsrOffset) & ~l.mxcsr_mask) return "xsave: MXCSR sets a bit the CPU lacks";
    for (uint32_t i = bytes; i < HV_XSAVE_AREA_MAX; ++i)
        if (s.xsave[i]) return "xsave: bytes beyond xsave_bytes";
    if (!f.xsave) return nullptr;
    if (load64(s.xsave + kXsaveHeader) & ~f.supported) return "xsave: XSTATE_BV names a component the CPU lacks";
    for (unsigned i = 8; i < kXsaveHeaderBytes; ++i)
        if (s.xsave[kXsaveHeader + i]) return "xsave: XCOMP_BV or the header's reserved bytes not 0";
    return nullptr;
}

const char* platform(const hv_guest_state& s, uint64_t tsc_hz) {
    if (!(s.flags & HV_STATE_PC_PLATFORM)) {
        const uint8_t* p = reinterpret_cast<const uint8_t*>(&s.platform);
        for (size_t i = 0; i < sizeof s.platform; ++i)
            if (p[i]) return "platform: not 0 without HV_STATE_PC_PLATFORM";
        if (s.platform_tsc0) return "platform_tsc0: not 0 without HV_STATE_PC_PLATFORM";
        return nullptr;
    }
    // The platform's clock starts before the guest's TSC reads now.
    if (s.platform_tsc0 > s.vcpu.tsc) return "platform_tsc0: after the vCPU's TSC";
    // What LegacyPlatform::restore() will take at the resume.
    if (!devices::LegacyPlatform::valid(s.platform)) return "platform: a device state the models refuse";
    // The devices' clock is the platform's: no access they saw can be later
    // than the record's own instant (a counter saved near 2^64 would make
    // every later expiry wrap).
    const uint64_t now = devices::tsc_to_pit_ticks(s.vcpu.tsc - s.platform_tsc0, tsc_hz);
    const hv_cmos_state& rtc = s.platform.cmos;
    if (s.platform.pit.last_now > now || rtc.base_tick > now || rtc.c_tick > now)
        return "platform: the devices' time is after the record's TSC";
    if (s.vcpu.activity == HV_ACTIVITY_HLT) {
        // on_hlt()'s rule: an idle vCPU that nothing can wake would keep the
        // run alive for ever.
        devices::LegacyPlatform scratch{devices::ByteSink{}, devices::ResetLine{}};
        scratch.restore(s.platform);
        scratch.advance(now);
        if (!scratch.can_wake(now)) return "vcpu.activity: HLT with no interrupt that could wake it";
    }
    return nullptr;
}

}  // namespace

bool xcr0_acceptable(uint64_t v, uint64_t supported) {
    using namespace x86::xcr0;
    // x87 always on; only supported components; AVX needs SSE; the AVX-512
    // components all together and with AVX; MPX's two together; AMX's two
    // together.
    if (!(v & X87) || (v & ~supported)) return false;
    if ((v & AVX) && !(v & SSE)) return false;
    if ((v & AVX512) && ((v & AVX512) != AVX512 || !(v & AVX))) return false;
    if (!(v & BNDREGS) != !(v & BNDCSR) || !(v & TILECFG) != !(v & TILEDATA)) return false;
    return true;
}

const char* state_refusal(const hv_guest_state& s, const StateLimits& l) {
    if (s.magic != HV_STATE_MAGIC) return "magic: not HV_STATE_MAGIC";
    if (s.version != HV_STATE_VERSION) return "version: not HV_STATE_VERSION";
    if (s.size != sizeof(hv_guest_state)) return "size: not sizeof(struct hv_guest_state)";
    if (s.flags & ~uint32_t(HV_STATE_PC_PLATFORM)) return "flags: an unknown flag";
    // One record per vCPU, for a destination with as many as the source.
    if (s.vcpu_count != l.vcpus) return "vcpu_count: not the guest's number of vCPUs";
    if (s.vcpu_index >= s.vcpu_count) return "vcpu_index: not one of the guest's vCPUs";
    const bool pc = s.flags & HV_STATE_PC_PLATFORM;
    if (pc && s.vcpu_count != 1) return "flags: the PC platform of a guest with several vCPUs";
    if (const char* why = control_registers(s.vcpu, l.controls)) return why;
    if (const char* why = other_registers(s.vcpu, l.linear_bits)) return why;
    if (const char* why = interruptibility(s.vcpu, pc, s.vcpu_index == 0)) return why;
    if (const char* why = pending_event(s.vcpu)) return why;
    if (const char* why = extended_state(s, l)) return why;
    return platform(s, l.tsc_hz);
}

}  // namespace hv
