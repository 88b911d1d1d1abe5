#include "arch/x86/apic.h"

#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "kernel/format.h"

namespace hv::x86::apic {
namespace {

constexpr uint32_t kIa32ApicBase = 0x1b;
namespace apic_base {
constexpr uint64_t BSP = 1ull << 8, EXTD = 1ull << 10, EN = 1ull << 11;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
}  // namespace apic_base
constexpr uint32_t kCpuid1EcxX2Apic = 1u << 21;

// Register offsets in the xAPIC page (Intel SDM Vol. 3A, table 11-1); the
// x2APIC MSR is 0x800 + offset / 16 (table 11-6).
enum class Reg : uint32_t {
    Id = 0x20,
    Tpr = 0x80,
    Eoi = 0xb0,
    Svr = 0xf0,
    Esr = 0x280,
    IcrLow = 0x300,
    IcrHigh = 0x310,
};
constexpr uint32_t kSvrEnable = 1u << 8;
namespace icr {
constexpr uint32_t DELIVERY_STATUS = 1u << 12;  // xAPIC only: 1 = send pending
constexpr uint32_t LEVEL_ASSERT = 1u << 14;
}  // namespace icr

// The 8259 PICs' data ports: writing 0xff masks every line, so that a stray
// legacy interrupt never arrives on a low vector (which is an exception's).
constexpr uint16_t kPic1Data = 0x21, kPic2Data = 0xa1;

Mode current_mode = Mode::XApic;
volatile uint32_t* mmio;  // xAPIC registers through the direct map

uint32_t read(Reg r) {
    if (current_mode == Mode::X2Apic) return uint32_t(rdmsr(0x800 + uint32_t(r) / 16));
    return mmio[uint32_t(r) / 4];
}

void write(Reg r, uint32_t v) {
    if (current_mode == Mode::X2Apic)
        wrmsr(0x800 + uint32_t(r) / 16, v);
    else
        mmio[uint32_t(r) / 4] = v;
}

void enable_this_cpu() {
    uint64_t base = rdmsr(kIa32ApicBase);
    // x2APIC is entered from xAPIC-enabled: EN first, then EN|EXTD (11.12.5).
    if (!(base & apic_base::EN)) wrmsr(kIa32ApicBase, base |= apic_base::EN);
    if (current_mode == Mode::X2Apic && !(base & apic_base::EXTD)) wrmsr(kIa32ApicBase, base | apic_base::EXTD);
    write(Reg::Tpr, 0);  // accept every priority class
    write(Reg::Svr, kSvrEnable | kVectorSpurious);
    // Back-to-back writes clear the error status (11.5.3).
    write(Reg::Esr, 0);
    write(Reg::Esr, 0);
}

}  // namespace

bool init_bsp(uint64_t madt_base, char* why, size_t n) {
    current_mode = (cpuid(1).ecx & kCpuid1EcxX2Apic) ? Mode::X2Apic : Mode::XApic;
    if (current_mode == Mode::XApic) {
        uint64_t pa = madt_base ? madt_base : rdmsr(kIa32ApicBase) & apic_base::kAddrMask;
        if (!pa || pa % 4096) {
            format(why, n, "local APIC base 0x%lx is not a page address", pa);
            return false;
        }
        if (!map_physical(pa, 4096, Cache::Uncached)) {
            format(why, n, "cannot map the local APIC page at 0x%lx", pa);
            return false;
        }
        mmio = phys_to_virt<volatile uint32_t>(pa);
    }
    outb(kPic1Data, 0xff);
    outb(kPic2Data, 0xff);
    enable_this_cpu();
    return true;
}

void init_ap() { enable_this_cpu(); }

Mode mode() { return current_mode; }
const char* mode_name() { return current_mode == Mode::X2Apic ? "x2APIC" : "xAPIC"; }

uint32_t id() { return current_mode == Mode::X2Apic ? read(Reg::Id) : read(Reg::Id) >> 24; }

void eoi() { write(Reg::Eoi, 0); }

void send_ipi(uint32_t dest, Delivery mode, uint8_t vector) {
    // Physical destination mode, no shorthand, edge-triggered.
    uint32_t low = uint32_t(mode) | vector | icr::LEVEL_ASSERT;
    if (current_mode == Mode::X2Apic) {
        wrmsr(0x800 + uint32_t(Reg::IcrLow) / 16, (uint64_t(dest) << 32) | low);
    } else {
        write(Reg::IcrHigh, dest << 24);
        write(Reg::IcrLow, low);  // this write sends
    }
}

bool wait_delivery(uint64_t timeout_us) {
    if (current_mode == Mode::X2Apic) return true;
    uint64_t start = rdtsc(), limit = tsc::cycles_for_us(timeout_us);
    while (read(Reg::IcrLow) & icr::DELIVERY_STATUS) {
        if (rdtsc() - start > limit) return false;
        pause();
    }
    return true;
}

}  // namespace hv::x86::apic
