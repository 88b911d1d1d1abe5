// The guests of a run: launched from the command line at boot or by the
// control guest later (HV_HC_CREATE_GUEST), each placed on its CPU's
// scheduler; every online CPU in VMX operation runs a scheduler until no
// guest anywhere can run; then each guest is audited and its memory given
// back.
#pragma once

#include <stddef.h>

#include "kernel/cmdline.h"

namespace hv::mb2 {
struct BootInfo;
}
namespace hv::mm {
class FrameAllocator;
}
namespace hv::vmx {
struct Controls;
}

namespace hv {
class Vm;
}

namespace hv::guests {

void init(const mb2::BootInfo& boot, const vmx::Controls& controls, const mm::MmuSwitches& switches);

// Creates the guest `spec` with id `id` and places it on its CPU. Returns 0,
// or a negative errno with a reason in why (no such image, CPU not in VMX
// operation, id taken, out of memory).
int launch(unsigned id, const cmdline::GuestSpec& spec, char* why, size_t why_size);

// The lowest id no guest has, or -1.
int free_id();

// Launches the command line's guests, runs every CPU's scheduler, audits.
void run(const cmdline::Config& config, mm::FrameAllocator& frames);

// `by` ended otherwise than expected: the run fails whatever happens next,
// so every other guest is asked to stop (once; said in one line).
void verdict_known(const Vm& by);

}  // namespace hv::guests
