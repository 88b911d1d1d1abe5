#include "arch/x86/acpi.h"

#include "arch/x86/paging.h"
#include "kernel/format.h"
#include "kernel/multiboot2.h"

namespace hv::x86::acpi {
namespace {

// System description table header (ACPI 6.5, 5.2.6): signature, length,
// revision, checksum, OEM fields; 36 bytes.
constexpr size_t kHeaderSize = 36;
constexpr size_t kLengthOffset = 4;
// The MADT's fixed part: header, local interrupt controller address, flags.
constexpr size_t kMadtFixedSize = 44;
constexpr uint32_t kMadtPcatCompat = 1u << 0;
// RSDP (ACPI 6.5, 5.2.5.3) field offsets.
constexpr size_t kRsdpRevision = 15, kRsdpRsdt = 16, kRsdpLength = 20, kRsdpXsdt = 24;
// No real table comes near this; a larger length is corruption, and mapping
// it would only waste page-table frames.
constexpr uint32_t kMaxTableSize = 1u << 20;

template <typename T>
T load(const uint8_t* p) {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v = T(v | T(T(p[i]) << (8 * i)));
    return v;
}

bool sum_is_zero(const uint8_t* p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; ++i) s = uint8_t(s + p[i]);
    return s == 0;
}

bool signature_is(const uint8_t* p, const char* sig) {
    for (size_t i = 0; sig[i]; ++i)
        if (p[i] != uint8_t(sig[i])) return false;
    return true;
}

bool fail(char* why, size_t n, const char* what, uint64_t a = 0, uint64_t b = 0) {
    format(why, n, what, a, b);
    return false;
}

// Maps the table at pa and returns it with its verified length, or nullptr.
const uint8_t* map_table(uint64_t pa, const char* sig, uint32_t& len, char* why, size_t n) {
    if (pa == 0) return fail(why, n, "ACPI: null table address"), nullptr;
    if (!map_physical(pa, kHeaderSize, Cache::WriteBack))
        return fail(why, n, "ACPI: cannot map the table header at 0x%lx", pa), nullptr;
    const uint8_t* t = phys_to_virt<const uint8_t>(pa);
    if (sig && !signature_is(t, sig)) return nullptr;  // not the one sought: no message
    len = load<uint32_t>(t + kLengthOffset);
    if (len < kHeaderSize || len > kMaxTableSize)
        return fail(why, n, "ACPI: table at 0x%lx has an implausible length %lu", pa, len), nullptr;
    if (!map_physical(pa, len, Cache::WriteBack))
        return fail(why, n, "ACPI: cannot map the table at 0x%lx (%lu bytes)", pa, len), nullptr;
    if (!sum_is_zero(t, len)) return fail(why, n, "ACPI: checksum of the table at 0x%lx is wrong", pa), nullptr;
    return t;
}

// The RSDT (4-byte entries) or XSDT (8-byte entries) at pa: finds the MADT.
bool search_root(uint64_t pa, bool xsdt, Madt& out, char* why, size_t n) {
    uint32_t len;
    why[0] = '\0';
    const uint8_t* root = map_table(pa, xsdt ? "XSDT" : "RSDT", len, why, n);
    if (!root) {
        if (!why[0]) format(why, n, "ACPI: no %s signature at 0x%lx", xsdt ? "XSDT" : "RSDT", pa);
        return false;
    }
    size_t entry = xsdt ? 8 : 4;
    if ((len - kHeaderSize) % entry)
        return fail(why, n, "ACPI: root table at 0x%lx is not a whole number of entries (length %lu)", pa, len);
    for (size_t off = kHeaderSize; off < len; off += entry) {
        uint64_t tpa = xsdt ? load<uint64_t>(root + off) : load<uint32_t>(root + off);
        uint32_t tlen;
        why[0] = '\0';
        const uint8_t* t = map_table(tpa, "APIC", tlen, why, n);
        if (!t) {
            if (why[0]) return false;  // an "APIC" table that is broken: say so
            continue;
        }
        return parse_madt(t, tlen, out, why, n);
    }
    format(why, n, "ACPI: no MADT (APIC) among the %lu tables of the %s", (len - kHeaderSize) / entry,
           xsdt ? "XSDT" : "RSDT");
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

bool find_madt(const mb2::BootInfo& boot, Madt& out, char* why, size_t n) {
    why[0] = '\0';
    // The new tag's RSDP (revision >= 2) leads to the XSDT; either tag's first
    // 20 bytes lead to the RSDT, for ACPI 1.0 firmware.
    const mb2::AcpiRsdp* tags[] = {&boot.acpi_new, &boot.acpi_old};
    bool any = false;
    for (const mb2::AcpiRsdp* tag : tags) {
        if (!tag->data) continue;
        const uint8_t* r = tag->data;
        if (!signature_is(r, "RSD PTR ")) {
            format(why, n, "ACPI: RSDP tag without the 'RSD PTR ' signature");
            continue;
        }
        if (!sum_is_zero(r, mb2::kAcpiRsdpV1Size)) {
            format(why, n, "ACPI: RSDP checksum is wrong");
            continue;
        }
        any = true;
        if (tag == &boot.acpi_new && r[kRsdpRevision] >= 2) {
            uint32_t rlen = load<uint32_t>(r + kRsdpLength);
            if (rlen >= mb2::kAcpiRsdpV2Size && rlen <= tag->size && sum_is_zero(r, rlen)) {
                uint64_t xsdt = load<uint64_t>(r + kRsdpXsdt);
                if (xsdt && search_root(xsdt, true, out, why, n)) return true;
            } else {
                format(why, n, "ACPI: extended RSDP length %lu or checksum is wrong", uint64_t(rlen));
            }
        }
        uint32_t rsdt = load<uint32_t>(r + kRsdpRsdt);
        if (rsdt && search_root(rsdt, false, out, why, n)) return true;
    }
    if (!any && !why[0]) format(why, n, "ACPI: the boot loader passed no RSDP (no Multiboot2 tag 14 or 15)");
    return false;
}

}  // namespace hv::x86::acpi
