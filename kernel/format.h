// printf-style formatting into a caller's buffer. Freestanding and free of
// any console state, so the kernel and the guests link the same code.
// Supports %d %i %u %x %X %p %c %s %%, widths, '0' and '-' flags, %.Ns/%.*s,
// and the l, ll and z length modifiers (all 64-bit on x86-64).
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace hv {

// Formats into buf (always NUL-terminated when size > 0); returns the length
// the output would have had, so callers can tell that it was cut.
size_t format(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
size_t vformat(char* buf, size_t size, const char* fmt, va_list ap);
// Formats a reason into why and returns false: `return fail(why, n, ...)`
// for functions that say why they refused.
bool fail(char* why, size_t n, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

}  // namespace hv
