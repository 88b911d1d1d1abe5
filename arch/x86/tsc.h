// The TSC as a clock: its frequency measured once against the 8254 PIT
// (channel 2, whose output is readable on port 0x61 without interrupts), then
// busy-wait delays in real time, as the INIT-SIPI-SIPI sequence needs.
#pragma once

#include <stdint.h>

namespace hv::x86::tsc {

// Measures the TSC frequency over a PIT interval. Returns false (and keeps a
// deliberately high guess, so that delays are never shorter than asked) when
// the PIT output never rises.
bool calibrate();

uint64_t hz();
uint64_t cycles_for_us(uint64_t us);
void delay_us(uint64_t us);

}  // namespace hv::x86::tsc
