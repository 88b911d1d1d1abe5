#include <stdarg.h>

#include "guests/runtime/guest.h"
#include "kernel/format.h"

extern "C" char _ap_start[];  // entry.asm: where another vCPU enters

namespace hv::guest {
namespace {

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

constexpr uint8_t kLsrThre = 0x20;

const hv_guest_boot* the_boot;
SpinLock print_lock;

// What an AP needs before it has a stack: the entry code reads stack_top
// (offset 0) from the block whose address is its EDI.
struct ApStartBlock {
    uint64_t stack_top;
    void (*fn)(unsigned, void*);
    void* arg;
};
constexpr size_t kApStackBytes = 16384;
alignas(16) uint8_t ap_stacks[HV_MAX_VCPUS][kApStackBytes];
ApStartBlock ap_blocks[HV_MAX_VCPUS];

void putc(char c) {
    while (!(inb(HV_GUEST_CONSOLE_PORT + 5) & kLsrThre)) {
    }
    outb(HV_GUEST_CONSOLE_PORT, uint8_t(c));
}

// Finds key's value in "k=v,k=v": its start and length, or nullptr.
const char* find(const char* args, const char* key, size_t& len) {
    for (const char* p = args; *p;) {
        const char* k = key;
        while (*k && *p == *k) ++p, ++k;
        if (!*k && *p == '=') {
            const char* v = ++p;
            while (*p && *p != ',') ++p;
            len = size_t(p - v);
            return v;
        }
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
    }
    return nullptr;
}

}  // namespace

uint64_t Args::u64(const char* key, uint64_t def) const {
    size_t n;
    const char* v = find(boot->args, key, n);
    if (!v || !n) return def;
    unsigned base = 10;
    if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) base = 16, v += 2, n -= 2;
    uint64_t r = 0;
    for (size_t i = 0; i < n; ++i) {
        char c = v[i];
        unsigned d = c >= '0' && c <= '9' ? unsigned(c - '0')
                     : c >= 'a' && c <= 'f' ? unsigned(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? unsigned(c - 'A' + 10)
                                            : 99;
        if (d >= base) return def;
        r = r * base + d;
    }
    return r;
}

bool Args::is(const char* key, const char* value) const {
    size_t n;
    const char* v = find(boot->args, key, n);
    if (!v) return false;
    size_t i = 0;
    while (i < n && value[i] == v[i]) ++i;
    return i == n && !value[i];
}

bool Args::has(const char* key) const {
    size_t n;
    return find(boot->args, key, n) != nullptr;
}

bool Args::str(const char* key, char* out, size_t size) const {
    size_t n;
    const char* v = find(boot->args, key, n);
    if (!v || n >= size) return false;
    for (size_t i = 0; i < n; ++i) out[i] = v[i];
    out[n] = '\0';
    return true;
}

void print(const char* fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    print_lock.lock();
    for (size_t i = 0; i < n && i < sizeof buf - 1; ++i) putc(buf[i]);
    print_lock.unlock();
}

unsigned vcpu_count() { return the_boot->vcpus ? the_boot->vcpus : 1; }

int64_t start_vcpu(unsigned index, void (*fn)(unsigned, void*), void* arg) {
    if (index == 0 || index >= HV_MAX_VCPUS) return -HV_EINVAL;
    ApStartBlock& b = ap_blocks[index];
    b = ApStartBlock{reinterpret_cast<uint64_t>(ap_stacks[index] + kApStackBytes),
                     fn, arg};
    // Our image is linked below 4 GiB: the block's address fits EDI.
    return hypercall(HV_HC_START_VCPU, index, reinterpret_cast<uint64_t>(_ap_start),
                     reinterpret_cast<uint64_t>(&b));
}

void exit(uint64_t status) {
    hypercall(HV_HC_EXIT, status);
    for (;;) asm volatile("cli; hlt");
}

}  // namespace hv::guest

extern "C" [[noreturn]] void guest_start(const hv_guest_boot* boot) {
    using namespace hv::guest;
    if (boot->magic != HV_GUEST_BOOT_MAGIC || boot->abi_version != HV_ABI_VERSION) {
        print("bad boot block (magic 0x%x, ABI %u)\n", boot->magic, boot->abi_version);
        exit(125);
    }
    the_boot = boot;
    exit(uint64_t(guest_main(Args{boot})));
}

extern "C" [[noreturn]] void guest_ap_start(unsigned index, const void* block) {
    using namespace hv::guest;
    const auto* b = static_cast<const ApStartBlock*>(block);
    b->fn(index, b->arg);
    // A vCPU cannot end alone (HLT stops the guest): it waits for the others.
    for (;;) asm volatile("pause");
}
