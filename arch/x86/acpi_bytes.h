// Byte-level helpers shared by the ACPI code: tables are read byte by byte
// (firmware does not align them, and casting to a struct would be UB).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::x86::acpi::bytes {

// System description table header (ACPI 6.5, 5.2.6): signature, length,
// revision, checksum, OEM fields; 36 bytes.
inline constexpr size_t kHeaderSize = 36;
inline constexpr size_t kLengthOffset = 4;

template <typename T>
inline T load(const uint8_t* p) {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v = T(v | T(T(p[i]) << (8 * i)));
    return v;
}

inline bool sum_is_zero(const uint8_t* p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; ++i) s = uint8_t(s + p[i]);
    return s == 0;
}

inline bool signature_is(const uint8_t* p, const char* sig) {
    for (size_t i = 0; sig[i]; ++i)
        if (p[i] != uint8_t(sig[i])) return false;
    return true;
}

}  // namespace hv::x86::acpi::bytes
