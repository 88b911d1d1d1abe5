#include "kernel/devices/reset_control.h"

namespace hv::devices {

using namespace reset_control;

void ResetControl::write(uint8_t value) {
    if (value & uint8_t(~kWritable)) unhandled.note(kPort, value, true);  // reserved bits
    const bool start = (value & kRstCpu) && !(value_ & kRstCpu);
    value_ = value & kWritable;
    if (!start) return;
    ++resets_;
    value_ = 0;  // the reset clears the register with the rest of the machine
    reset_.request(value & (kSysRst | kFullRst) ? ResetSource::ResetControlHard : ResetSource::ResetControlSoft);
}

}  // namespace hv::devices
