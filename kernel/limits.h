// Fixed capacities. The kernel allocates nothing behind the caller's back, so
// every table that grows is sized here, and exceeding one is a reported error.
#pragma once

#include <stddef.h>

namespace hv {

inline constexpr unsigned kMaxCpus = 16;
inline constexpr unsigned kMaxGuests = 8;
inline constexpr size_t kPageSize = 4096;

}  // namespace hv
