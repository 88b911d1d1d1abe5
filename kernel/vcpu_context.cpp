#include "kernel/vcpu_context.h"

#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "kernel/limits.h"
#include "kernel/mmu_platform.h"
#include "kernel/smp.h"

extern "C" void* memset(void*, int, size_t);

namespace hv {
namespace {

using x86::Msr;

// DR6 at reset: its reserved bits read as 1 (Intel SDM Vol. 3B, 18.2.3).
constexpr uint64_t kDr6Init = 0xffff0ff0;
// IA32_FMASK: bits 63:32 are reserved (Intel SDM Vol. 4, C0000084H).
constexpr uint64_t kFmaskReserved = 0xffffffff00000000ull;

// The vCPU whose registers each CPU holds (0: none), so that a vCPU that
// gets the CPU back with nothing run in between does not reload them. Each
// CPU reads and writes its own entry only.
uint64_t held[kMaxCpus];
uint64_t next_id = 1;  // atomic

}  // namespace

bool VcpuContext::init(const x86::XsaveFeatures& f) {
    features_ = f;
    linear_bits_ = x86::linear_address_bits();
    id_ = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    area_frames_ = (f.bytes + 4095) / 4096;
    area_ = mmu_platform::alloc_frames(area_frames_, 1);
    vapic_ = mmu_platform::alloc_frames(1, 1);
    if (!area_ || !vapic_) return false;  // destroy() frees what there is
    auto* a = x86::phys_to_virt<uint8_t>(area_);
    memset(a, 0, area_frames_ * 4096);
    // The XSAVE header's XSTATE_BV is 0: XRSTOR puts every component in its
    // initial configuration, but MXCSR it loads from the legacy region all
    // the same (Intel SDM Vol. 1, 13.8.1), and FXRSTOR takes all of it.
    *reinterpret_cast<uint16_t*>(a + x86::kFcwOffset) = x86::kFcwInit;
    *reinterpret_cast<uint32_t*>(a + x86::kMxcsrOffset) = x86::kMxcsrInit;
    memset(x86::phys_to_virt(vapic_), 0, 4096);  // VTPR, hence CR8, is 0
    dr6_ = kDr6Init;
    return true;
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
    using namespace x86::xcr0;
    // XSETBV's #GP conditions (Intel SDM Vol. 1, 13.3): x87 always on; only
    // supported components; AVX needs SSE; the AVX-512 components all
    // together and with AVX; MPX's two together; AMX's two together.
    if (!features_.xsave || !(v & X87) || (v & ~features_.supported)) return false;
    if ((v & AVX) && !(v & SSE)) return false;
    if ((v & AVX512) && ((v & AVX512) != AVX512 || !(v & AVX))) return false;
    if (!(v & BNDREGS) != !(v & BNDCSR) || !(v & TILECFG) != !(v & TILEDATA)) return false;
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

}  // namespace hv
