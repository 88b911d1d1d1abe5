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

}  // namespace hv
