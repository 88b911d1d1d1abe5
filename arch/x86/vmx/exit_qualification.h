// Exit qualifications the hypervisor decodes (Intel SDM Vol. 3C, 28.2.1).
#pragma once

#include <stdint.h>

namespace hv::vmx {

// EPT violation (Table 28-7). Bits 0-2 (the access) line up with EPT's R, W, X.
namespace ept_violation {
inline constexpr uint64_t READ = 1ull << 0, WRITE = 1ull << 1, FETCH = 1ull << 2;
inline constexpr uint64_t READABLE = 1ull << 3, WRITABLE = 1ull << 4, EXECUTABLE = 1ull << 5;
inline constexpr uint64_t LINEAR_ADDRESS_VALID = 1ull << 7;
}  // namespace ept_violation

// I/O instruction (Table 28-5).
namespace io_qual {
inline constexpr uint64_t SIZE_MASK = 7, IN = 1u << 3, STRING = 1u << 4;
inline constexpr unsigned PORT_SHIFT = 16;
}  // namespace io_qual

// Control-register access (Table 28-3).
namespace cr_qual {
inline constexpr uint64_t CR_MASK = 0xf, ACCESS_MASK = 3, GPR_MASK = 0xf;
inline constexpr unsigned ACCESS_SHIFT = 4, GPR_SHIFT = 8;
enum class Access : unsigned { MovToCr = 0, MovFromCr = 1, Clts = 2, Lmsw = 3 };
}  // namespace cr_qual

}  // namespace hv::vmx
