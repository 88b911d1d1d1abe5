// memstress: the vCPU side of KVM's dirty_log_perf_test (tools/testing/
// selftests/kvm/lib/memstress.c, memstress_guest_code()), driven by the
// control guest dlpt (guests/dlpt.cpp, docs/perf.md).
//
// Every vCPU of this guest (vcpus=N in its description) runs the same loop:
// wait until the mailbox's iteration counter moves, then write one 64-bit
// word in each 4 KiB page of its own part of the test memory, then publish
// the iteration it completed and the TSC cycles its pass took. vCPU 0 is a
// worker like the others: it starts vCPUs 1..N-1 first.
//
// The test memory is not this guest's own: it is memory slot 1, which dlpt
// creates (HV_HC_SET_MEMORY_REGION) at a GPA above slot 0 before it posts
// the first iteration, and on which alone it turns dirty logging on. Slot 0
// holds the mailbox (a fixed page, kMailboxGpa) that dlpt maps writable
// (HV_HC_MAP_GUEST), which is why slot 0 never logs. vCPU i's part is
// [test_gpa + i * bytes_per_vcpu, + bytes_per_vcpu). The guest's own page
// tables identity-map the first 4 GiB, so the test memory must lie below it.
//
// It never ends by itself: dlpt stops it (HV_HC_STOP_GUEST), so its
// description says expect=stopped.
//   args: none (everything comes through the mailbox)
#include "guests/runtime/guest.h"

using namespace hv::guest;

namespace {

// The mailbox: the same layout in guests/dlpt.cpp (`size` checks it).
constexpr uint64_t kMailboxGpa = 0x3000;
constexpr uint32_t kMailboxMagic = 0x5453454d;  // "MEST"
constexpr uint64_t kNone = ~0ull;               // no iteration (yet)

struct alignas(64) VcpuBox {
    uint64_t done;          // memstress: the last iteration this vCPU completed, kNone before the first
    uint64_t cycles;        // TSC cycles of that pass (written before `done`)
    uint64_t total_cycles;  // of all its passes after iteration 0 (populate)
    uint64_t pages;         // pages written per pass
    uint64_t error;         // nonzero: the vCPU refused the test region (then `done` does not move)
    uint64_t writes;        // pages written so far, all passes: moves after each page's write
    uint64_t reserved[2];
};

struct Mailbox {
    uint32_t magic;    // memstress: written last, once the rest is valid
    uint32_t size;     // sizeof(Mailbox)
    uint32_t vcpus;    // memstress: its vCPUs
    uint32_t started;  // memstress: vCPUs waiting for work
    // dlpt: the test region, written before the first iteration.
    uint64_t test_gpa;
    uint64_t bytes_per_vcpu;
    // dlpt: each vCPU makes one pass per value (0: populate, KVM's
    // iteration 0); kNone until the first.
    uint64_t iteration;
    // dlpt: nonzero for KVM's -a (random access): each pass writes every
    // page once, in a fresh order per pass and per vCPU.
    uint64_t random_access;
    uint64_t reserved[2];
    VcpuBox vcpu[HV_MAX_VCPUS];
};
static_assert(sizeof(Mailbox) <= 4096, "the mailbox is one page");

Mailbox* const box = reinterpret_cast<Mailbox*>(kMailboxGpa);
uint64_t mem_bytes;

template <typename T>
T load(const T& x) {
    return __atomic_load_n(&x, __ATOMIC_ACQUIRE);
}
template <typename T>
void store(T& x, T v) {
    __atomic_store_n(&x, v, __ATOMIC_RELEASE);
}

// i -> (i * mult + offset) mod n is a permutation of [0, n) when mult is
// coprime with n (the dirtier's way).
uint64_t coprime_multiplier(uint64_t n, uint64_t seed) {
    auto gcd = [](uint64_t a, uint64_t b) {
        while (b) {
            uint64_t t = a % b;
            a = b, b = t;
        }
        return a;
    };
    uint64_t m = ((n * 0x9e3779b97f4a7c15ull >> 32) ^ seed) % n | 1;
    while (gcd(m, n) != 1) m += 2;
    return m % n ? m % n : 1;
}

// One pass over the vCPU's part: a word per page, KVM's write_percent=100,
// in sequential order or (random access) a permutation. The word says which
// iteration wrote it. After each page the vCPU's write count moves (a store
// to slot 0, which never logs), so dlpt can tell how many pages were written
// while it did something else.
uint64_t pass(unsigned index, VcpuBox& me, uint64_t gpa, uint64_t pages, uint64_t iteration, bool random) {
    volatile uint64_t& writes = me.writes;
    const uint64_t seed = iteration * 4 + index;
    const uint64_t mult = random && pages > 1 ? coprime_multiplier(pages, seed * 0x2545f491) : 1;
    const uint64_t offset = random ? seed * 7919 % pages : 0;
    const uint64_t t0 = rdtsc(), w0 = writes;
    for (uint64_t i = 0, page = offset; i < pages; ++i) {
        *reinterpret_cast<volatile uint64_t*>(gpa + page * 4096) = iteration << 32 | page;
        writes = w0 + i + 1;
        page = (page + mult) % pages;
    }
    return rdtsc() - t0;
}

[[noreturn]] void worker(unsigned index, void*) {
    VcpuBox& me = box->vcpu[index];
    __atomic_fetch_add(&box->started, 1u, __ATOMIC_ACQ_REL);
    for (uint64_t last = kNone;;) {
        const uint64_t it = load(box->iteration);
        if (it == last) {
            asm volatile("pause");
            continue;
        }
        last = it;
        const uint64_t bytes = box->bytes_per_vcpu, gpa = box->test_gpa + index * bytes;
        // Only memory dlpt created: slot 1, above slot 0 and below 4 GiB.
        if (!bytes || bytes % 4096 || box->test_gpa % 4096 || box->test_gpa < mem_bytes ||
            gpa >= (4ull << 30) || bytes > (4ull << 30) - gpa) {
            if (!me.error) print("memstress: vCPU %u: test region 0x%lx + %lu bytes per vCPU refused\n", index,
                                 box->test_gpa, bytes);
            store(me.error, uint64_t(1));
            continue;
        }
        const uint64_t pages = bytes >> 12, cycles = pass(index, me, gpa, pages, it, box->random_access != 0);
        me.pages = pages;
        me.cycles = cycles;
        if (it != 0) me.total_cycles += cycles;
        store(me.done, it);
    }
}

}  // namespace

int guest_main(const Args& args) {
    mem_bytes = args.boot->mem_bytes;
    const unsigned n = vcpu_count();
    // Everything valid before the magic: dlpt waits for it.
    box->size = sizeof(Mailbox);
    box->vcpus = n;
    box->started = 0;
    box->test_gpa = box->bytes_per_vcpu = box->random_access = 0;
    box->iteration = kNone;
    for (unsigned i = 0; i < HV_MAX_VCPUS; ++i) box->vcpu[i] = VcpuBox{kNone, 0, 0, 0, 0, 0, {}};
    store(box->magic, kMailboxMagic);
    print("memstress: %u vCPUs, mailbox at 0x%lx, waiting for the control guest\n", n, kMailboxGpa);
    for (unsigned i = 1; i < n; ++i) {
        if (int64_t r = start_vcpu(i, worker, nullptr); r) {
            print("memstress: HV_HC_START_VCPU(%u) -> %ld\n", i, r);
            return 2;
        }
    }
    worker(0, nullptr);
}
