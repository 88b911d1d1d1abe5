// The MADT parser: a pure function of the table's bytes (no mapping, no
// console), so that the host tests compile this file as it is.
#include "arch/x86/acpi.h"
#include "arch/x86/acpi_bytes.h"
#include "kernel/format.h"

namespace hv::x86::acpi {
namespace {

using namespace bytes;

// The MADT's fixed part: header, local interrupt controller address, flags.
constexpr size_t kMadtFixedSize = 44;
constexpr uint32_t kMadtPcatCompat = 1u << 0;

bool fail(char* why, size_t n, const char* what, uint64_t a = 0, uint64_t b = 0) {
    format(why, n, what, a, b);
    return false;
}

void add_cpu(Madt& out, uint32_t apic_id, uint32_t uid, uint32_t flags) {
    if (!(flags & (lapic_flags::ENABLED | lapic_flags::ONLINE_CAPABLE))) return;
    // A CPU may be listed twice (type 0 and type 9 with the same ID): once is enough.
    for (unsigned i = 0; i < out.cpu_count; ++i)
        if (out.cpus[i].apic_id == apic_id) return;
    if (out.cpu_count == kMaxCpus) {
        ++out.cpus_left_out;
        return;
    }
    out.cpus[out.cpu_count++] = Cpu{apic_id, uid, !(flags & lapic_flags::ENABLED)};
}

}  // namespace

bool parse_madt(const uint8_t* t, size_t len, Madt& out, char* why, size_t n) {
    out = Madt{};
    if (len < kMadtFixedSize) return fail(why, n, "MADT: %lu bytes, shorter than its fixed part", len);
    if (!signature_is(t, "APIC")) return fail(why, n, "MADT: signature is not APIC");
    if (load<uint32_t>(t + kLengthOffset) != len)
        return fail(why, n, "MADT: length field %lu does not match the %lu bytes given",
                    load<uint32_t>(t + kLengthOffset), len);
    if (!sum_is_zero(t, len)) return fail(why, n, "MADT: checksum is wrong");
    out.lapic_base = load<uint32_t>(t + 36);
    out.pcat_compat = load<uint32_t>(t + 40) & kMadtPcatCompat;
    for (size_t off = kMadtFixedSize; off < len;) {
        if (len - off < 2) return fail(why, n, "MADT: entry header at offset %lu cut short", off);
        uint8_t type = t[off], elen = t[off + 1];
        if (elen < 2) return fail(why, n, "MADT: entry at offset %lu has length %lu", off, elen);
        if (elen > len - off) return fail(why, n, "MADT: entry at offset %lu runs past the table", off);
        const uint8_t* e = t + off;
        switch (MadtType(type)) {
            case MadtType::ProcessorLocalApic:
                if (elen != 8) return fail(why, n, "MADT: local APIC entry at offset %lu has length %lu", off, elen);
                add_cpu(out, e[3], e[2], load<uint32_t>(e + 4));
                break;
            case MadtType::ProcessorLocalX2Apic:
                if (elen != 16)
                    return fail(why, n, "MADT: local x2APIC entry at offset %lu has length %lu", off, elen);
                add_cpu(out, load<uint32_t>(e + 4), load<uint32_t>(e + 12), load<uint32_t>(e + 8));
                break;
            case MadtType::LocalApicAddressOverride:
                if (elen != 12)
                    return fail(why, n, "MADT: APIC address override at offset %lu has length %lu", off, elen);
                out.lapic_base = load<uint64_t>(e + 4);
                break;
            default:
                break;  // I/O APICs, interrupt overrides, NMI sources: not ours yet
        }
        off += elen;
    }
    if (out.cpu_count == 0) return fail(why, n, "MADT: lists no enabled or online-capable processor");
    return true;
}

}  // namespace hv::x86::acpi
