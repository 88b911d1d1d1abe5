#include "arch/x86/serial.h"

#include "arch/x86/cpu.h"

namespace hv::x86::serial {
namespace {

constexpr uint16_t kCom1 = 0x3f8;
constexpr uint16_t kDebugPort = 0xe9;

// 16550 register offsets and bits.
constexpr uint16_t THR = 0, IER = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7;
constexpr uint8_t LCR_DLAB = 0x80, LCR_8N1 = 0x03, LSR_THRE = 0x20, LSR_TEMT = 0x40;

bool uart_present = false;

}  // namespace

void init() {
    // A board without COM1 floats the bus to 0xff; the scratch register tells.
    outb(kCom1 + SCR, 0x5a);
    if (inb(kCom1 + SCR) != 0x5a) return;
    outb(kCom1 + IER, 0x00);
    outb(kCom1 + LCR, LCR_DLAB);
    outb(kCom1 + 0, 1);  // divisor 1: 115200 baud
    outb(kCom1 + 1, 0);
    outb(kCom1 + LCR, LCR_8N1);
    outb(kCom1 + FCR, 0xc7);  // enable and clear FIFOs
    outb(kCom1 + MCR, 0x03);
    uart_present = true;
}

static void put(char c) {
    if (uart_present) {
        // Bounded: a wedged UART must not hang a panic message forever.
        for (int i = 0; i < 100000 && !(inb(kCom1 + LSR) & LSR_THRE); ++i) pause();
        outb(kCom1 + THR, uint8_t(c));
    }
    outb(kDebugPort, uint8_t(c));
}

void write(const char* s, unsigned long n) {
    for (unsigned long i = 0; i < n; ++i) {
        if (s[i] == '\n') put('\r');
        put(s[i]);
    }
}

void drain() {
    if (!uart_present) return;
    for (int i = 0; i < 1000000 && !(inb(kCom1 + LSR) & LSR_TEMT); ++i) pause();
}

}  // namespace hv::x86::serial
