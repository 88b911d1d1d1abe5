// hog: a control guest that takes every page of host memory it can, as
// slots of another (paused) guest: sizes from 1 GiB down to 4 KiB, each size
// until it is refused. Then it resumes a paused bystander and waits for it to
// end, deletes every slot it made (each must succeed: teardown needs no
// memory) and makes the largest slot again (the memory really came back).
//   args: target=ID, holders=N (guests target .. target+N-1 hold the slots,
//         15 each; stopped at the end), bystander=ID
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

constexpr uint64_t kFirstGpa = 4ull << 30;

bool alive(uint64_t id) { return hypercall(HV_HC_RESUME, id) == 0; }  // -ENOENT once stopped

constexpr uint64_t kPerHolder = HV_MAX_SLOTS - 1;  // slot 0 is the holder's own memory

// Slot i of the hog: which holder, which slot id, where.
int64_t set_slot(uint64_t target, uint64_t i, uint64_t size) {
    static hv_memory_region slot{};
    slot = {uint32_t(1 + i % kPerHolder), 0, kFirstGpa + (i % kPerHolder) * HV_MAX_SLOT_BYTES, size};
    return hypercall(HV_HC_SET_MEMORY_REGION, target + i / kPerHolder, reinterpret_cast<uint64_t>(&slot));
}

}  // namespace

int guest_main(const Args& args) {
    uint64_t target = args.u64("target", 0), holders = args.u64("holders", 1), bystander = args.u64("bystander", 1);
    uint64_t made = 0, bytes = 0, largest = 0;
    int64_t last = 0;
    // Each size until refused, then half of it: free memory is fragmented.
    for (uint64_t size = HV_MAX_SLOT_BYTES; size >= 4096 && made < holders * kPerHolder;) {
        last = set_slot(target, made, size);
        if (last == 0) {
            ++made, bytes += size;
            if (size > largest) largest = size;
        } else if (last != -HV_ENOSPC && last != -HV_ENOMEM) {
            print("hog: slot of %lu KiB -> %ld\n", size >> 10, last);
            return 2;
        }
        if (last != 0) size /= 2;
    }
    if (last == 0) {
        print("hog: %lu slots and host memory left: cannot exhaust it\n", made);
        return 5;
    }
    print("hog: %lu slots, %lu KiB, took host memory until refused (last: %ld)\n", made, bytes >> 10, last);

    // The bystander was paused before the memory went: its tables were
    // reserved when it was created, so it runs to its end now. A resume
    // kicks the bystander's CPU: poll gently.
    for (uint64_t polls = 0; alive(bystander) && polls < 100000; ++polls)
        for (int i = 0; i < 20000; ++i) asm volatile("pause");
    print("hog: bystander %lu ended\n", bystander);

    for (uint64_t i = made; i-- > 0;) {
        if (int64_t r = set_slot(target, i, 0); r) {
            print("hog: deleting slot %lu -> %ld\n", i, r);
            return 3;
        }
    }
    if (int64_t again = set_slot(target, 0, largest); again) {
        print("hog: the largest slot (%lu KiB) again -> %ld\n", largest >> 10, again);
        return 4;
    }
    set_slot(target, 0, 0);
    print("hog: every slot deleted, the largest (%lu KiB) fits again\n", largest >> 10);
    for (uint64_t h = 0; h < holders; ++h) hypercall(HV_HC_STOP_GUEST, target + h);
    return 0;
}
