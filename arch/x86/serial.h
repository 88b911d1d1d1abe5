// The 16550 UART at COM1, mirrored to port 0xE9 (Bochs' and QEMU's debug
// console), so a run's console survives whichever capture the emulator offers.
#pragma once

namespace hv::x86::serial {

void init();
void write(const char* s, unsigned long n);
// Waits (bounded) until the UART has sent its last byte: an emulator that is
// ended right after must not lose the end of the console.
void drain();

}  // namespace hv::x86::serial
