#include "kernel/mmio.h"

namespace hv {

uint64_t MmioRegion::read(uint64_t offset) {
    ++accesses;
    if (offset == HV_MMIO_ACCESSES) return accesses;
    return offset % 8 == 0 && offset / 8 < HV_MMIO_REGS ? regs[offset / 8] : 0;
}

void MmioRegion::write(uint64_t offset, uint64_t value, unsigned size) {
    ++accesses;
    if (offset % 8 || offset / 8 >= HV_MMIO_REGS) return;
    regs[offset / 8] = size == 4 ? uint32_t(value) : value;
}

bool decode_mmio_insn(const uint8_t* b, unsigned n, MmioInsn& out) {
    unsigned i = 0;
    uint8_t rex = 0;
    if (i < n && (b[i] & 0xf0) == 0x40) rex = b[i++];
    if (i + 2 > n || (b[i] != 0x89 && b[i] != 0x8b)) return false;
    out.store = b[i++] == 0x89;
    uint8_t modrm = b[i++];
    unsigned mod = modrm >> 6, rm = modrm & 7;
    if (mod == 3) return false;  // a register operand cannot be MMIO
    // Only the length matters (the exit gave the address): SIB, displacement.
    if (rm == 4) {
        if (i >= n) return false;
        uint8_t sib = b[i++];
        if (mod == 0 && (sib & 7) == 5) i += 4;
    } else if (mod == 0 && rm == 5) {
        i += 4;  // RIP-relative
    }
    i += mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (i > n) return false;
    out.reg = ((modrm >> 3) & 7) | (rex & 4 ? 8 : 0);
    out.size = rex & 8 ? 8 : 4;
    out.length = i;
    return true;
}

}  // namespace hv
