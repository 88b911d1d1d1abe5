// wild: a guest that reads guest-physical memory outside its slot (its page
// tables map 4 GiB, its slot is smaller). The hypervisor must stop it with
// the faulting address in the reason.
//   args: gpa=ADDRESS (default 512 MiB; must be below 4 GiB)
#include "guests/runtime/guest.h"

using namespace hv::guest;

int guest_main(const Args& args) {
    uint64_t gpa = args.u64("gpa", 512ull << 20);
    if (gpa >= (4ull << 30)) {
        print("wild: gpa 0x%lx is beyond the 4 GiB this guest maps\n", gpa);
        return 2;
    }
    print("wild: reading GPA 0x%lx, outside my %lu MiB slot\n", gpa, args.boot->mem_bytes >> 20);
    uint64_t v = *reinterpret_cast<volatile uint64_t*>(gpa);
    print("wild: read 0x%lx and was not stopped\n", v);
    return 1;
}
