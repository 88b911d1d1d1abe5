#include "arch/x86/acpi.h"

#include "arch/x86/acpi_bytes.h"
#include "arch/x86/paging.h"
#include "kernel/format.h"
#include "kernel/multiboot2.h"

namespace hv::x86::acpi {
namespace {

using namespace bytes;

// RSDP (ACPI 6.5, 5.2.5.3) field offsets.
constexpr size_t kRsdpRevision = 15, kRsdpRsdt = 16, kRsdpLength = 20, kRsdpXsdt = 24;
// No real table comes near this; a larger length is corruption, and mapping
// it would only waste page-table frames.
constexpr uint32_t kMaxTableSize = 1u << 20;

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

}  // namespace

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
