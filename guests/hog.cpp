// hog: a control guest that takes every page of host memory it can, as
// slots of another (paused) guest: sizes from 1 GiB down to 4 KiB, each size
// until it is refused. Then it resumes a paused bystander and waits for it to
// end, deletes every slot it made (each must succeed: teardown needs no
// memory) and makes the largest slot again (the memory really came back).
//   args: target=ID (holds the slots; stopped at the end), bystander=ID
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

constexpr uint64_t kFirstGpa = 4ull << 30;

bool alive(uint64_t id) { return hypercall(HV_HC_RESUME, id) == 0; }  // -ENOENT once stopped

}  // namespace

int guest_main(const Args& args) {
    uint64_t target = args.u64("target", 0), bystander = args.u64("bystander", 1);
    static hv_memory_region slot{};
    uint64_t made = 0, bytes = 0, largest = 0;
    int64_t last = 0;
    for (uint64_t size = HV_MAX_SLOT_BYTES; size >= 4096 && made + 1 < HV_MAX_SLOTS;) {
        slot = {uint32_t(made + 1), 0, kFirstGpa + made * HV_MAX_SLOT_BYTES, size};
        last = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&slot));
        if (last == 0) {
            ++made, bytes += size;
            if (size > largest) largest = size;
        } else if (last == -HV_ENOSPC || last == -HV_ENOMEM) {
            size /= 2;
        } else {
            print("hog: slot of %lu KiB -> %ld\n", size >> 10, last);
            return 2;
        }
    }
    print("hog: %lu slots, %lu KiB, took host memory until refused (last: %ld)\n", made, bytes >> 10, last);

    // The bystander was paused before the memory went: its tables were
    // reserved when it was created, so it runs to its end now.
    // A resume kicks the bystander's CPU: poll gently.
    for (uint64_t polls = 0; alive(bystander) && polls < 100000; ++polls)
        for (int i = 0; i < 20000; ++i) asm volatile("pause");
    print("hog: bystander %lu ended\n", bystander);

    for (uint64_t i = made; i >= 1; --i) {
        slot = {uint32_t(i), 0, 0, 0};
        if (int64_t r = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&slot)); r) {
            print("hog: deleting slot %lu -> %ld\n", i, r);
            return 3;
        }
    }
    slot = {1, 0, kFirstGpa, largest};
    int64_t again = hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&slot));
    if (again) {
        print("hog: the largest slot (%lu KiB) again -> %ld\n", largest >> 10, again);
        return 4;
    }
    slot.memory_size = 0;
    hypercall(HV_HC_SET_MEMORY_REGION, target, reinterpret_cast<uint64_t>(&slot));
    print("hog: every slot deleted, the largest (%lu KiB) fits again\n", largest >> 10);
    hypercall(HV_HC_STOP_GUEST, target);
    return 0;
}
