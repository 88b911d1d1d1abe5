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
        watch_panic(c);
        if (c == '\r') return;
        if (c == '\n') {
            // Relaxed: a progress count another CPU reads (HV_HC_GUEST_STATS).
            __atomic_store_n(&lines_, lines_ + 1, __ATOMIC_RELAXED);
            return flush();
        }
        // Control characters are shown, not obeyed: a guest must not be able
        // to move the cursor over the hypervisor's lines.
        line_[len_++] = (c < ' ' || c > '~') ? '?' : c;
        if (len_ == sizeof line_) flush();
    }

    void flush() {
        if (len_) print("[%s] %.*s\n", name_, int(len_), line_);
        len_ = 0;
    }

    // Lines the guest ended (its newlines), for a control guest that waits
    // for its progress.
    uint64_t lines() const { return __atomic_load_n(&lines_, __ATOMIC_RELAXED); }

    // A guest OS's panic line (Linux: "Kernel panic - not syncing: ..."),
    // NUL-terminated, or nullptr: after a panic Linux spins with interrupts
    // on and never halts, so its console is the only sign.
    const char* panic() const { return panic_[0] && !taking_ ? panic_ : nullptr; }

private:
    // Matched byte by byte, so that the marker is found wherever the line
    // buffer splits it (a line longer than line_ is printed in pieces); the
    // reason is what follows it up to the end of the line. The marker has no
    // proper prefix that is also a suffix of a partial match, so a mismatch
    // restarts the match at this byte.
    void watch_panic(char c) {
        static constexpr char kMarker[] = "Kernel panic - not syncing: ";
        constexpr size_t m = sizeof kMarker - 1;
        if (panic_[0] && !taking_) return;
        if (taking_) {
            if (c == '\n' || c == '\r' || reason_len_ + 1 == sizeof panic_) {
                taking_ = false;
                if (!reason_len_) panic_[reason_len_++] = '?';
                panic_[reason_len_] = '\0';
                return;
            }
            panic_[reason_len_++] = (c < ' ' || c > '~') ? '?' : c;
            panic_[reason_len_] = '\0';
            return;
        }
        matched_ = c == kMarker[matched_] ? matched_ + 1 : c == kMarker[0] ? 1 : 0;
        if (matched_ == m) taking_ = true, matched_ = 0, reason_len_ = 0;
    }

    const char* name_;
    char panic_[120] = "";
    size_t matched_ = 0, reason_len_ = 0;
    bool taking_ = false;  // after the marker, until the end of its line
    char line_[160];
    size_t len_ = 0;
    uint64_t lines_ = 0;
};

}  // namespace hv
