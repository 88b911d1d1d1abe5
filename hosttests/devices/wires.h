// Test ends of the wires a device is given: an interrupt line that records
// its level and edges, a byte sink, a reset line.
#pragma once

#include <string>
#include <vector>

#include "kernel/devices/device.h"

namespace hv::devices::test {

struct LineProbe {
    bool level = false;
    int rises = 0, falls = 0;

    IrqLine line() { return IrqLine{&thunk, this, 0}; }
    static void thunk(void* ctx, unsigned, bool high) {
        auto* p = static_cast<LineProbe*>(ctx);
        if (high && !p->level) ++p->rises;
        if (!high && p->level) ++p->falls;
        p->level = high;
    }
};

struct SinkProbe {
    std::string bytes;
    ByteSink sink() { return ByteSink{&thunk, this}; }
    static void thunk(void* ctx, uint8_t b) { static_cast<SinkProbe*>(ctx)->bytes.push_back(char(b)); }
};

struct ResetProbe {
    std::vector<ResetSource> requests;
    ResetLine line() { return ResetLine{&thunk, this}; }
    static void thunk(void* ctx, ResetSource s) { static_cast<ResetProbe*>(ctx)->requests.push_back(s); }
};

}  // namespace hv::devices::test
