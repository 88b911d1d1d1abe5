// A guest's console: the bytes it writes to its UART's transmit register,
// collected into lines and printed with the guest's name in front, so guest
// output can never be mistaken for the hypervisor's result lines.
#pragma once

#include <stddef.h>

#include "kernel/console.h"

namespace hv {

class GuestConsole {
public:
    explicit GuestConsole(const char* name) : name_(name) {}

    void put(char c) {
        if (c == '\r') return;
        if (c == '\n') return flush();
        // Control characters are shown, not obeyed: a guest must not be able
        // to move the cursor over the hypervisor's lines.
        line_[len_++] = (c < ' ' || c > '~') ? '?' : c;
        if (len_ == sizeof line_) flush();
    }

    void flush() {
        if (len_) print("[%s] %.*s\n", name_, int(len_), line_);
        len_ = 0;
    }

private:
    const char* name_;
    char line_[160];
    size_t len_ = 0;
};

}  // namespace hv
