// Hypercall dispatch: the table of calls of include/hv/hypercall.h, each with
// its checks. Guest input is hostile: every argument is validated before it
// is used, guest buffers are copied into the hypervisor once (no double
// fetch), and a refused call changes no state.
#pragma once

#include <stdint.h>

namespace hv {

class Vm;

struct HypercallArgs {
    uint64_t nr, a0, a1, a2, a3;
};

struct HypercallResult {
    int64_t value;  // what the guest finds in RAX
    bool stop;      // the call ended the guest (HV_HC_EXIT): do not resume it
    bool yield;     // give up the rest of the slice (the caller waits for another guest)
};

HypercallResult dispatch_hypercall(Vm& vm, const HypercallArgs& args);

}  // namespace hv
