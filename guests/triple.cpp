// triple: a guest that triple-faults on purpose. With an empty IDT, the #UD of
// UD2 cannot be delivered (#GP), nor can that (#DF), and the CPU shuts down:
// in VMX non-root operation that is a TRIPLE_FAULT VM exit. The hypervisor
// must stop this guest and carry on with the others.
#include "guests/runtime/guest.h"

using namespace hv::guest;

int guest_main(const Args&) {
    print("triple: loading an empty IDT and executing UD2\n");
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr{0, 0};
    asm volatile("lidt %0; ud2" ::"m"(idtr));
    print("triple: still running after UD2\n");
    return 1;
}
