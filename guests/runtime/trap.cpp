#include "guests/runtime/trap.h"

#include "guests/runtime/guest.h"

extern "C" {
volatile uint64_t hv_trap_fixup;
volatile int64_t hv_trap_vector = -1;
extern const uint64_t hv_trap_stubs[32];

[[noreturn]] void hv_trap_unexpected(uint64_t vector, uint64_t error, uint64_t rip) {
    hv::guest::print("trap: unexpected exception %lu (error code 0x%lx) at rip=0x%lx\n", vector, error, rip);
    hv::guest::exit(126);
}
}

namespace hv::guest {
namespace {

// A 64-bit interrupt gate (Intel SDM Vol. 3A, 6.14.1): present, DPL 0, type
// 14, so that IF is clear in the handler. Selector 0x08: entry.asm's code.
struct __attribute__((packed)) Gate {
    uint16_t offset_low, selector;
    uint8_t ist, type;
    uint16_t offset_mid;
    uint32_t offset_high, reserved;
};
static_assert(sizeof(Gate) == 16);

constexpr uint16_t kCodeSelector = 0x08;
constexpr uint8_t kInterruptGate = 0x8e;

Gate idt[32];

}  // namespace

void install_traps() {
    for (unsigned v = 0; v < 32; ++v) {
        uint64_t a = hv_trap_stubs[v];
        idt[v] = Gate{uint16_t(a), kCodeSelector, 0, kInterruptGate, uint16_t(a >> 16), uint32_t(a >> 32), 0};
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr{sizeof idt - 1, reinterpret_cast<uint64_t>(idt)};
    asm volatile("lidt %0" ::"m"(idtr) : "memory");
}

}  // namespace hv::guest
