// Fatal errors: print the reason and a backtrace, then end the run failing.
#pragma once

#include <stdint.h>

namespace hv {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Prints the frame-pointer chain starting at rbp (the kernel is built with
// -fno-omit-frame-pointer), resolving names through the symbol module.
void print_backtrace(uint64_t rip, uint64_t rbp);

}  // namespace hv

#define HV_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) ::hv::panic("assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__); \
    } while (0)
