#include "arch/x86/tsc.h"

#include "arch/x86/cpu.h"

namespace hv::x86::tsc {
namespace {

// 8254 programmable interval timer (Intel 8254 datasheet; PC/AT wiring).
constexpr uint16_t kPitChannel2 = 0x42;
constexpr uint16_t kPitCommand = 0x43;
constexpr uint16_t kPort61 = 0x61;          // NMI status and control
constexpr uint8_t kPort61Gate2 = 1u << 0;   // channel 2 gate
constexpr uint8_t kPort61Speaker = 1u << 1;  // speaker data enable: keep it off
constexpr uint8_t kPort61Out2 = 1u << 5;    // channel 2 output, read-only
// Channel 2, access lobyte/hibyte, mode 0 (interrupt on terminal count:
// OUT goes high when the count reaches zero), binary.
constexpr uint8_t kPitCh2Mode0 = 0xb0;
constexpr uint64_t kPitHz = 1193182;
constexpr uint64_t kCalibrationMs = 20;
constexpr uint16_t kCalibrationCount = uint16_t(kPitHz * kCalibrationMs / 1000);  // 23863 < 65536

// Faster than any real TSC: if calibration fails, delays come out too long,
// never too short.
constexpr uint64_t kFallbackHz = 10'000'000'000ull;

uint64_t tsc_hz = kFallbackHz;

}  // namespace

bool calibrate() {
    uint8_t saved = inb(kPort61);
    outb(kPort61, uint8_t((saved & ~kPort61Speaker) | kPort61Gate2));
    outb(kPitCommand, kPitCh2Mode0);
    outb(kPitChannel2, uint8_t(kCalibrationCount & 0xff));
    outb(kPitChannel2, uint8_t(kCalibrationCount >> 8));  // counting starts now
    uint64_t t0 = rdtsc();
    // The bound is in TSC cycles: 2^36 is over 6 s at 10 GHz, and ample for
    // an emulator that is slow to tick its PIT.
    bool rose = false;
    uint64_t t1 = t0;
    while (t1 - t0 < (1ull << 36)) {
        if (inb(kPort61) & kPort61Out2) {
            rose = true;
            break;
        }
        t1 = rdtsc();
    }
    t1 = rdtsc();
    outb(kPort61, saved);
    if (!rose || t1 == t0) return false;
    tsc_hz = (t1 - t0) * 1000 / kCalibrationMs;
    return true;
}

uint64_t hz() { return tsc_hz; }

uint64_t cycles_for_us(uint64_t us) { return tsc_hz / 1000000 * us + (tsc_hz % 1000000) * us / 1000000; }

void delay_us(uint64_t us) {
    uint64_t start = rdtsc(), n = cycles_for_us(us);
    while (rdtsc() - start < n) pause();
}

}  // namespace hv::x86::tsc
