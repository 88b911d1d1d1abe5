#include "kernel/panic.h"

#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "kernel/console.h"
#include "kernel/symbols.h"
#include "kernel/verdict.h"

extern "C" char __kernel_start[], __kernel_end[];

namespace hv {
namespace {

bool in_kernel_image(uint64_t a) { return a >= uint64_t(__kernel_start) && a < uint64_t(__kernel_end); }

void print_frame(unsigned depth, uint64_t pc) {
    symbols::Symbol s;
    if (symbols::lookup(pc, s))
        print("  #%u %016lx %.*s+0x%lx\n", depth, pc, int(s.name_len), s.name, s.offset);
    else
        print("  #%u %016lx ?\n", depth, pc);
}

}  // namespace

void print_backtrace(uint64_t rip, uint64_t rbp) {
    print("backtrace:\n");
    print_frame(0, rip);
    // Every frame must lie in the kernel image (stacks are in .bss) and move
    // up the stack, so a corrupt chain ends the walk instead of faulting.
    for (unsigned depth = 1; depth < 32 && rbp && (rbp & 7) == 0 && in_kernel_image(rbp); ++depth) {
        uint64_t next = reinterpret_cast<uint64_t*>(rbp)[0];
        uint64_t ret = reinterpret_cast<uint64_t*>(rbp)[1];
        if (!ret) break;
        print_frame(depth, ret - 1);  // -1: name the call, not what follows it
        if (next <= rbp) break;
        rbp = next;
    }
}

void panic(const char* fmt, ...) {
    x86::cli();
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vformat(why, sizeof why, fmt, ap);
    va_end(ap);
    print("PANIC: %s\n", why);
    print_backtrace(uint64_t(__builtin_return_address(0)), *static_cast<uint64_t*>(__builtin_frame_address(0)));
    end_run_fail(why);
}

}  // namespace hv
