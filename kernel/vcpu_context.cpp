#include "kernel/vcpu_context.h"

#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "kernel/limits.h"
#include "kernel/mmu_platform.h"
#include "kernel/smp.h"
#include "kernel/state_check.h"

extern "C" void* memcpy(void*, const void*, size_t);
extern "C" void* memset(void*, int, size_t);

namespace hv {
namespace {

using x86::Msr;

// DR6 at reset: its reserved bits read as 1 (Intel SDM Vol. 3B, 18.2.3).
constexpr uint64_t kDr6Init = 0xffff0ff0;
// IA32_FMASK: bits 63:32 are reserved (Intel SDM Vol. 4, C0000084H).
constexpr uint64_t kFmaskReserved = 0xffffffff00000000ull;
// FXSAVE's MXCSR_MASK (Intel SDM Vol. 1, 10.5.1.2): 0 there means 0xFFBF.
constexpr unsigned kMxcsrMaskOffset = 28;
constexpr uint32_t kMxcsrMaskDefault = 0xffbf;
// The virtual-APIC page's VTPR (Intel SDM Vol. 3C, 30.1.1): CR8 is its bits 7:4.
constexpr unsigned kVtprOffset = 0x80;

// The vCPU whose registers each CPU holds (0: none), so that a vCPU that
// gets the CPU back with nothing run in between does not reload them. Each
// CPU reads and writes its own entry only.
uint64_t held[kMaxCpus];
uint64_t next_id = 1;  // atomic

}  // namespace

bool VcpuContext::init(const x86::XsaveFeatures& f) {
    features_ = f;
    linear_bits_ = x86::linear_address_bits();
    area_frames_ = (f.bytes + 4095) / 4096;
    area_ = mmu_platform::alloc_frames(area_frames_, 1);
    vapic_ = mmu_platform::alloc_frames(1, 1);
    if (!area_ || !vapic_) return false;  // destroy() frees what there is
    auto* a = x86::phys_to_virt<uint8_t>(area_);
    // This CPU's state, only to learn its MXCSR_MASK; then the area is reset.
    x86::fxsave(a);
    mxcsr_mask_ = *reinterpret_cast<uint32_t*>(a + kMxcsrMaskOffset);
    if (!mxcsr_mask_) mxcsr_mask_ = kMxcsrMaskDefault;
    reset();
    return true;
}

void VcpuContext::reset() {
    // A new identity: the next load() loads all of this, even on a CPU that
    // held the vCPU before.
    id_ = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    auto* a = x86::phys_to_virt<uint8_t>(area_);
    memset(a, 0, area_frames_ * 4096);
    // The XSAVE header's XSTATE_BV is 0: XRSTOR puts every component in its
    // initial configuration, but MXCSR it loads from the legacy region all
    // the same (Intel SDM Vol. 1, 13.8.1), and FXRSTOR takes all of it.
    *reinterpret_cast<uint16_t*>(a + x86::kFcwOffset) = x86::kFcwInit;
    *reinterpret_cast<uint32_t*>(a + x86::kMxcsrOffset) = x86::kMxcsrInit;
    memset(x86::phys_to_virt(vapic_), 0, 4096);  // VTPR, hence CR8, is 0
    xcr0_ = x86::xcr0::X87;
    for (uint64_t& d : dr_) d = 0;
    dr6_ = kDr6Init, cr2_ = 0;
    kernel_gs_base_ = star_ = lstar_ = cstar_ = fmask_ = 0;
}

void VcpuContext::destroy() {
    if (area_) mmu_platform::free_frames(area_, area_frames_);
    if (vapic_) mmu_platform::free_frames(vapic_, 1);
    area_ = vapic_ = 0;
}

void VcpuContext::load() {
    uint64_t& h = held[smp::current_cpu()];
    if (h != id_) {
        // Outside guests XCR0 is every supported component (save() leaves it
        // so): XRSTOR restores them all, whatever this guest's XCR0 hides.
        const void* a = x86::phys_to_virt(area_);
        if (features_.xsave)
            x86::xrstor(a, features_.supported);
        else
            x86::fxrstor(a);
        x86::write_dr0(dr_[0]);
        x86::write_dr1(dr_[1]);
        x86::write_dr2(dr_[2]);
        x86::write_dr3(dr_[3]);
        x86::write_dr6(dr6_);
        x86::write_cr2(cr2_);
        x86::wrmsr(Msr::IA32_KERNEL_GS_BASE, kernel_gs_base_);
        x86::wrmsr(Msr::IA32_STAR, star_);
        x86::wrmsr(Msr::IA32_LSTAR, lstar_);
        x86::wrmsr(Msr::IA32_CSTAR, cstar_);
        x86::wrmsr(Msr::IA32_FMASK, fmask_);
        h = id_;
    }
    if (features_.xsave && xcr0_ != features_.supported) x86::xsetbv(0, xcr0_);
}

void VcpuContext::save() {
    void* a = x86::phys_to_virt(area_);
    if (features_.xsave) {
        // Every component, so that one the guest turned off keeps its state
        // for when it turns it on again, and no other guest's shows through.
        if (xcr0_ != features_.supported) x86::xsetbv(0, features_.supported);
        x86::xsave(a, features_.supported);
    } else {
        x86::fxsave(a);
    }
    dr_[0] = x86::read_dr0();
    dr_[1] = x86::read_dr1();
    dr_[2] = x86::read_dr2();
    dr_[3] = x86::read_dr3();
    dr6_ = x86::read_dr6();
    cr2_ = x86::read_cr2();
    // The other MSRs change only through write_msr (WRMSR always exits).
    kernel_gs_base_ = x86::rdmsr(Msr::IA32_KERNEL_GS_BASE);
}

bool VcpuContext::set_xcr0(uint64_t v) {
    if (!features_.xsave || !xcr0_acceptable(v, features_.supported)) return false;
    xcr0_ = v;
    x86::xsetbv(0, v);
    return true;
}

bool VcpuContext::read_msr(uint32_t msr, uint64_t& v) const {
    switch (Msr(msr)) {
    case Msr::IA32_KERNEL_GS_BASE:
        v = x86::rdmsr(Msr::IA32_KERNEL_GS_BASE);  // SWAPGS may have changed it
        return true;
    case Msr::IA32_STAR:
        v = star_;
        return true;
    case Msr::IA32_LSTAR:
        v = lstar_;
        return true;
    case Msr::IA32_CSTAR:
        v = cstar_;
        return true;
    case Msr::IA32_FMASK:
        v = fmask_;
        return true;
    default:
        return false;
    }
}

bool VcpuContext::write_msr(uint32_t msr, uint64_t v) {
    // WRMSR of a non-canonical address, or of a reserved bit, is a #GP: on
    // this CPU it would be the hypervisor's own #GP.
    const bool canonical = x86::is_canonical(v, linear_bits_);
    switch (Msr(msr)) {
    case Msr::IA32_KERNEL_GS_BASE:
        if (!canonical) return false;
        kernel_gs_base_ = v;
        break;
    case Msr::IA32_STAR:
        star_ = v;
        break;
    case Msr::IA32_LSTAR:
        if (!canonical) return false;
        lstar_ = v;
        break;
    case Msr::IA32_CSTAR:
        if (!canonical) return false;
        cstar_ = v;
        break;
    case Msr::IA32_FMASK:
        if (v & kFmaskReserved) return false;
        fmask_ = v;
        break;
    default:
        return false;
    }
    x86::wrmsr(msr, v);
    return true;
}

void VcpuContext::save_to(hv_guest_state& s) const {
    hv_vcpu_state& v = s.vcpu;
    v.xcr0 = xcr0_;
    v.dr0 = dr_[0], v.dr1 = dr_[1], v.dr2 = dr_[2], v.dr3 = dr_[3], v.dr6 = dr6_;
    v.cr2 = cr2_;
    v.cr8 = x86::phys_to_virt<uint8_t>(vapic_)[kVtprOffset] >> 4;
    v.kernel_gs_base = kernel_gs_base_, v.star = star_, v.lstar = lstar_, v.cstar = cstar_, v.fmask = fmask_;
    // The whole area the CPU saves; a CPU whose area does not fit the record
    // says so in xsave_bytes, and HV_HC_GET_STATE refuses rather than truncate.
    s.xsave_bytes = features_.xsave ? features_.bytes : x86::kFxsaveBytes;
    const uint32_t n = s.xsave_bytes < HV_XSAVE_AREA_MAX ? s.xsave_bytes : HV_XSAVE_AREA_MAX;
    memcpy(s.xsave, x86::phys_to_virt(area_), n);
}

void VcpuContext::restore_from(const hv_guest_state& s) {
    const hv_vcpu_state& v = s.vcpu;
    xcr0_ = v.xcr0;
    dr_[0] = v.dr0, dr_[1] = v.dr1, dr_[2] = v.dr2, dr_[3] = v.dr3, dr6_ = v.dr6;
    cr2_ = v.cr2;
    x86::phys_to_virt<uint8_t>(vapic_)[kVtprOffset] = uint8_t(v.cr8 << 4);
    kernel_gs_base_ = v.kernel_gs_base, star_ = v.star, lstar_ = v.lstar, cstar_ = v.cstar, fmask_ = v.fmask;
    memcpy(x86::phys_to_virt(area_), s.xsave, s.xsave_bytes);
    // A new identity: no CPU holds these registers now, so the next load()
    // loads them all instead of trusting what a CPU kept of the old ones.
    id_ = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
}

}  // namespace hv
