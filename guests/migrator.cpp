// migrator: the control guest. It moves a running guest (the source) into an
// empty, paused one (the destination) and lets the workload go on there:
//   1. map the source's memory read-only and the destination's writable
//   2. wait until the source has done `after` passes of its workload
//   3. pause the source; copy all of its memory; compare every byte
//   4. copy the vCPU state; resume the destination; stop the source
//   5. watch the destination's progress block move on two passes, stop it
//   args: src=ID, dst=ID (command-line positions), after=N (default 3)
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

constexpr uint64_t kSrcWindow = 1ull << 30, kDstWindow = 2ull << 30;
// How long the destination may take for two passes before we call it stuck.
constexpr uint64_t kProgressTimeout = 1ull << 36;

uint64_t passes_at(uint64_t window) {
    return reinterpret_cast<volatile hv_dirtier_progress*>(window + HV_DIRTIER_PROGRESS_GPA)->passes;
}

uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return uint64_t(hi) << 32 | lo;
}

}  // namespace

int guest_main(const Args& args) {
    uint64_t src = args.u64("src", 0), dst = args.u64("dst", 1), after = args.u64("after", 3);
    int64_t src_bytes = hypercall(HV_HC_MAP_GUEST, src, kSrcWindow, 0);
    int64_t dst_bytes = hypercall(HV_HC_MAP_GUEST, dst, kDstWindow, HV_MAP_WRITABLE);
    if (src_bytes <= 0 || dst_bytes <= 0 || src_bytes != dst_bytes) {
        print("migrator: cannot map the guests: source %ld, destination %ld\n", src_bytes, dst_bytes);
        return 2;
    }
    uint64_t bytes = uint64_t(src_bytes);
    print("migrator: source %lu -> destination %lu, %lu MiB\n", src, dst, bytes >> 20);

    while (passes_at(kSrcWindow) < after) asm volatile("pause");

    uint64_t t0 = rdtsc();
    if (int64_t r = pause_guest(src); r) {
        print("migrator: pause(source) -> %ld\n", r);
        return 3;
    }
    uint64_t paused_at = passes_at(kSrcWindow);
    const volatile uint64_t* from = reinterpret_cast<const volatile uint64_t*>(kSrcWindow);
    volatile uint64_t* to = reinterpret_cast<volatile uint64_t*>(kDstWindow);
    for (uint64_t i = 0; i < bytes / 8; ++i) to[i] = from[i];
    uint64_t t_copy = rdtsc();

    static hv_vcpu_state state;
    int64_t g = hypercall(HV_HC_GET_VCPU_STATE, src, reinterpret_cast<uint64_t>(&state), sizeof state);
    int64_t s = hypercall(HV_HC_SET_VCPU_STATE, dst, reinterpret_cast<uint64_t>(&state), sizeof state);
    uint64_t t_state = rdtsc();

    // Verification, while both are still paused: every byte, compared a
    // 64-bit word at a time (a word differs iff one of its bytes does).
    uint64_t mismatched_words = 0;
    for (uint64_t i = 0; i < bytes / 8; ++i) mismatched_words += from[i] != to[i];

    uint64_t t_verify = rdtsc();
    int64_t r = hypercall(HV_HC_RESUME, dst);
    uint64_t t_resume = rdtsc();
    print("migrator: paused at pass %lu, copied %lu MiB, rip=0x%lx, state %ld/%ld, resume %ld\n", paused_at,
          bytes >> 20, state.rip, g, s, r);
    print("migrator: downtime %lu TSC cycles: copy %lu, vCPU state %lu, resume %lu (verification %lu not counted)\n",
          (t_state - t0) + (t_resume - t_verify), t_copy - t0, t_state - t_copy, t_resume - t_verify,
          t_verify - t_state);
    print("migrator: verdict: %s: %lu of %lu words differ\n", mismatched_words ? "MISMATCH" : "identical",
          mismatched_words, bytes / 8);
    if (g != sizeof state || s || r) return 4;
    hypercall(HV_HC_STOP_GUEST, src);

    // The workload goes on in the destination, from where the source stopped:
    // two more passes, then the destination is stopped too and the run ends.
    for (uint64_t start = rdtsc(); passes_at(kDstWindow) < paused_at + 2;) {
        if (rdtsc() - start > kProgressTimeout) {
            print("migrator: destination stuck at pass %lu\n", passes_at(kDstWindow));
            return 5;
        }
        asm volatile("pause");
    }
    print("migrator: destination at pass %lu and going on\n", passes_at(kDstWindow));
    hypercall(HV_HC_STOP_GUEST, dst);
    return mismatched_words ? 1 : 0;
}
