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

void ResetControl::save(hv_reset_control_state& out) const {
    out = hv_reset_control_state{};
    out.resets = resets_;
    out.value = value_;
    unhandled.save(out.unhandled);
}

bool ResetControl::valid(const hv_reset_control_state& in) {
    return !(in.value & ~(kSysRst | kFullRst)) && all_zero(in.reserved, sizeof in.reserved) &&
           Unhandled::valid(in.unhandled);
}

bool ResetControl::restore(const hv_reset_control_state& in) {
    if (!valid(in)) return false;
    resets_ = in.resets;
    value_ = in.value;
    unhandled.restore(in.unhandled);
    return true;
}

}  // namespace hv::devices
