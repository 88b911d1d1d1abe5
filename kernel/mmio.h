// MMIO emulation: the test device of include/hv/hypercall.h behind each
// region a guest registers, and the decoder for the instruction that touched
// it. An access to a region exits through the MMU (an MMIO SPTE, tagged with
// the memslot generation: mm/mmio_gen.cpp); the hypervisor fetches the
// instruction at the guest's RIP through the guest's own page tables,
// performs it against the device and skips it.
#pragma once

#include <stdint.h>

#include "include/hv/hypercall.h"

namespace hv {

struct MmioRegion {
    uint64_t gpa;  // HV_MMIO_SIZE bytes
    uint64_t regs[HV_MMIO_REGS];
    uint64_t accesses;

    bool contains(uint64_t a) const { return a >= gpa && a - gpa < HV_MMIO_SIZE; }
    uint64_t read(uint64_t offset);
    void write(uint64_t offset, uint64_t value, unsigned size);
};

// What the decoder found in the instruction bytes: a MOV of `size` bytes
// between memory and general register `reg` (x86 numbering, 0 = RAX).
struct MmioInsn {
    bool store;  // register -> memory
    unsigned reg, size, length;
};

// Decodes bytes[0, n); false for anything but MOV r/m, r (89) or MOV r, r/m
// (8B) with a memory operand, an optional REX prefix and no other prefix.
bool decode_mmio_insn(const uint8_t* bytes, unsigned n, MmioInsn& out);

// Reads up to max bytes of the instruction at guest-linear address rip into
// out, page by page: an instruction may straddle a page boundary, and the
// next page has its own translation (its frame need not follow the first).
// translate(linear, gpa&) and read(gpa, dst, n) are the guest's page tables
// and memory. Returns the bytes read: fewer than max where a page is not
// mapped, which the decoder then judges.
template <typename Translate, typename Read>
unsigned fetch_insn(uint64_t rip, uint8_t* out, unsigned max, Translate&& translate, Read&& read) {
    unsigned n = 0;
    while (n < max) {
        const uint64_t la = rip + n;
        uint64_t gpa;
        unsigned chunk = 4096 - unsigned(la & 4095);
        if (chunk > max - n) chunk = max - n;
        if (!translate(la, gpa) || !read(gpa, out + n, chunk)) break;
        n += chunk;
    }
    return n;
}

}  // namespace hv
