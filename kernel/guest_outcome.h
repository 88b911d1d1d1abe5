// How a guest's run ended. The kernel command line names the outcome a test
// expects (guest=NAME:expect=triple_fault), so a guest that is *meant* to be
// stopped passes exactly when it is stopped for that reason.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv {

enum class Outcome : uint8_t {
    Exited,        // HV_HC_EXIT with status 0
    ExitedFailing, // HV_HC_EXIT with a non-zero status
    TripleFault,
    OutsideSlot,   // an access to guest-physical memory outside every slot
    Halted,        // HLT with nothing that could ever wake it
    BadIo,         // an I/O access the hypervisor refuses (string I/O)
    EntryFailed,   // VMLAUNCH/VMRESUME failed or VM entry failed its checks
    Unexpected,    // a VM exit the hypervisor does not handle
    Stopped,       // stopped by the control guest (HV_HC_STOP_GUEST)
    Abandoned,     // left paused when no guest could resume it any more
    Reset,         // the guest reset its machine (8042 pulse, port 0xcf9): a guest OS's reboot
    Panicked,      // a guest OS said it panicked (its console's panic line)
};

inline constexpr const char* kOutcomeNames[] = {
    "exit", "exit_failing", "triple_fault", "outside_slot", "halted", "bad_io", "entry_failed", "unexpected",
    "stopped", "abandoned", "reset", "panic",
};

inline constexpr const char* outcome_name(Outcome o) { return kOutcomeNames[size_t(o)]; }

// Parses an outcome name of n bytes; false if it names none.
inline bool parse_outcome(const char* s, size_t n, Outcome& out) {
    for (size_t i = 0; i < sizeof kOutcomeNames / sizeof *kOutcomeNames; ++i) {
        const char* name = kOutcomeNames[i];
        size_t k = 0;
        while (k < n && name[k] && name[k] == s[k]) ++k;
        if (k == n && !name[k]) {
            out = Outcome(i);
            return true;
        }
    }
    return false;
}

}  // namespace hv
