// Kernel symbol names for backtraces. The build writes `nm -n -C hv.elf` to
// hv.sym, which GRUB loads as a module; the kernel cannot embed its own final
// symbol table without linking twice, and a module keeps the image small.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::symbols {

// text points at the module's bytes (size bytes, not NUL-terminated).
void init(const char* text, size_t size);

struct Symbol {
    const char* name;  // not NUL-terminated; name_len bytes
    size_t name_len;
    uint64_t offset;   // pc - symbol address
};

// False when there is no table or pc lies before the first symbol.
bool lookup(uint64_t pc, Symbol& out);

}  // namespace hv::symbols
