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
        if (len_) {
            print("[%s] %.*s\n", name_, int(len_), line_);
            note_panic();
        }
        len_ = 0;
    }

    // A guest OS's panic line (Linux: "Kernel panic - not syncing: ..."),
    // NUL-terminated, or nullptr: after a panic Linux spins with interrupts
    // on and never halts, so its console is the only sign.
    const char* panic() const { return panic_[0] ? panic_ : nullptr; }

private:
    void note_panic() {
        static constexpr char kMarker[] = "Kernel panic - not syncing: ";
        constexpr size_t m = sizeof kMarker - 1;
        if (panic_[0]) return;
        for (size_t i = 0; i + m <= len_; ++i) {
            size_t k = 0;
            while (k < m && line_[i + k] == kMarker[k]) ++k;
            if (k < m) continue;
            size_t n = 0;
            for (size_t j = i + m; j < len_ && n + 1 < sizeof panic_; ++j) panic_[n++] = line_[j];
            panic_[n] = '\0';
            if (!n) panic_[0] = '?', panic_[1] = '\0';
            return;
        }
    }

    const char* name_;
    char panic_[120] = "";
    char line_[160];
    size_t len_ = 0;
};

}  // namespace hv
