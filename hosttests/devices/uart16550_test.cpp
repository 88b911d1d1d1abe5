// The 16550A as Linux's 8250 driver finds and drives it
// (drivers/tty/serial/8250/8250_port.c: autoconfig, size_fifo, the THRE and
// TXEN tests of serial8250_do_startup, console writes, the interrupt loop).
#include "kernel/devices/uart16550.h"

#include <gtest/gtest.h>

#include <string>

#include "hosttests/devices/wires.h"

namespace hv::devices {
namespace {

using test::LineProbe;
using test::SinkProbe;
using namespace uart16550;

// size_fifo(): loopback at the fastest rate, 256 bytes out, count what came back.
unsigned linux_size_fifo(Uart16550& u) {
    const uint8_t old_lcr = u.read(kLcr);
    u.write(kLcr, 0);
    const uint8_t old_fcr = u.read(kIirFcr);  // the driver reads IIR here and writes it back as FCR
    const uint8_t old_mcr = u.read(kMcr);
    u.write(kIirFcr, kFcrEnable | kFcrClearRx | kFcrClearTx);
    u.write(kMcr, kMcrLoop);
    u.write(kLcr, kLcrDlab);
    const uint8_t dll = u.read(kDll), dlm = u.read(kDlm);
    u.write(kDll, 1);
    u.write(kDlm, 0);
    u.write(kLcr, 0x03);
    for (unsigned i = 0; i < 256; ++i) u.write(kRbrThr, uint8_t(i));
    unsigned count = 0;
    for (; (u.read(kLsr) & kLsrDataReady) && count < 256; ++count) u.read(kRbrThr);
    u.write(kIirFcr, old_fcr);
    u.write(kMcr, old_mcr);
    u.write(kLcr, kLcrDlab);
    u.write(kDll, dll);
    u.write(kDlm, dlm);
    u.write(kLcr, old_lcr);
    return count;
}

// autoconfig() and autoconfig_16550a(), reduced to the type they decide on.
std::string linux_autoconfig(Uart16550& u) {
    const uint8_t scratch = u.read(kIer);
    u.write(kIer, 0);
    const uint8_t scratch2 = u.read(kIer) & 0x0f;
    u.write(kIer, 0x0f);
    const uint8_t scratch3 = u.read(kIer) & 0x0f;
    u.write(kIer, scratch);
    if (scratch2 != 0 || scratch3 != 0x0f) return "IER test failed";

    const uint8_t save_mcr = u.read(kMcr), save_lcr = u.read(kLcr);
    u.write(kMcr, kMcrLoop | 0x0a);
    const uint8_t status1 = u.read(kMsr) & 0xf0;
    u.write(kMcr, save_mcr);
    if (status1 != 0x90) return "LOOP test failed";

    u.write(kLcr, 0xbf);  // UART_LCR_CONF_MODE_B, then EFR := 0 (FCR on a 16550A)
    u.write(kIirFcr, 0);
    u.write(kLcr, 0);
    u.write(kIirFcr, kFcrEnable);
    switch (u.read(kIirFcr) >> 6) {
    case 0: return "8250/16450";
    case 1: return "unknown";
    case 2: return "16550";
    default: break;
    }
    std::string type = "16550A";
    u.write(kLcr, 0x80);  // EFR present with DLAB set: ST16C650V1
    if (u.read(kIirFcr) == 0) return "16650";
    u.write(kLcr, 0xbf);  // EFR with 0xbf: 16650V2, 16C950, XR16C850
    if (u.read(kIirFcr) == 0) return "EFR UART";
    u.write(kLcr, 0);  // National SuperIO: EXCR1 (bank 2, offset 2) follows MCR's LOOP
    const uint8_t mcr = u.read(kMcr);
    u.write(kLcr, 0xe0);
    uint8_t excr1 = u.read(2);
    if (!((excr1 ^ mcr) & kMcrLoop)) {
        u.write(kLcr, 0);
        u.write(kMcr, mcr ^ kMcrLoop);
        u.write(kLcr, 0xe0);
        excr1 = u.read(2);
        u.write(kLcr, 0);
        u.write(kMcr, mcr);
        if ((excr1 ^ mcr) & kMcrLoop) return "NS16550A";
    }
    u.write(kLcr, 0);  // TI16750: IIR bit 5 with the 64-byte FIFO only under DLAB
    u.write(kIirFcr, kFcrEnable | 0x20);
    const uint8_t s1 = u.read(kIirFcr) >> 5;
    u.write(kIirFcr, kFcrEnable);
    u.write(kLcr, 0x80);
    u.write(kIirFcr, kFcrEnable | 0x20);
    const uint8_t s2 = u.read(kIirFcr) >> 5;
    u.write(kIirFcr, kFcrEnable);
    u.write(kLcr, 0);
    if (s1 == 6 && s2 == 7) return "16750";
    const uint8_t ier = u.read(kIer);  // XScale: IER bit 6 (UUE) sticks
    u.write(kIer, ier & ~0x40);
    if (!(u.read(kIer) & 0x40)) {
        u.write(kIer, ier | 0x40);
        if (u.read(kIer) & 0x40) return "XScale";
    }
    u.write(kIer, ier);
    if (linux_size_fifo(u) == 64) type = "U6_16550A";

    u.write(kLcr, save_lcr);  // reset the UART
    u.write(kMcr, save_mcr);
    u.write(kIirFcr, kFcrEnable);
    u.write(kIirFcr, kFcrEnable | kFcrClearRx | kFcrClearTx);
    u.write(kIirFcr, 0);
    u.read(kRbrThr);
    u.write(kIer, 0);
    return type;
}

struct Uart : ::testing::Test {
    LineProbe irq;
    SinkProbe out;
    Uart16550 uart{irq.line(), out.sink()};
};

TEST_F(Uart, ResetStateIsIdleWithTheTransmitterEmpty) {
    EXPECT_EQ(uart.read(kIirFcr), kIirNoInterrupt);
    EXPECT_EQ(uart.read(kLsr), kLsrThrEmpty | kLsrTxEmpty);  // 0x60
    EXPECT_EQ(uart.read(kIer), 0);
    EXPECT_EQ(uart.read(kMcr), 0);
    EXPECT_EQ(uart.read(kLcr), 0);
    EXPECT_FALSE(irq.level);
}

TEST_F(Uart, LinuxAutoconfigFindsA16550A) {
    EXPECT_EQ(linux_autoconfig(uart), "16550A");
    EXPECT_EQ(out.bytes, "");  // the FIFO sizing went through loopback only
    EXPECT_EQ(uart.read(kIer), 0);
    EXPECT_EQ(uart.read(kLsr), kLsrThrEmpty | kLsrTxEmpty);
    EXPECT_EQ(uart.unhandled.count, 0u);
}

TEST_F(Uart, FifoSizeMeasuredThroughLoopbackIs16) { EXPECT_EQ(linux_size_fifo(uart), 16u); }

TEST_F(Uart, IerKeepsOnlyItsFourEnableBits) {
    uart.write(kIer, 0xff);
    EXPECT_EQ(uart.read(kIer), 0x0f);
}

TEST_F(Uart, ScratchRegisterHoldsAnyByte) {
    uart.write(kScr, 0xa5);
    EXPECT_EQ(uart.read(kScr), 0xa5);
    uart.write(kScr, 0x5a);
    EXPECT_EQ(uart.read(kScr), 0x5a);
}

TEST_F(Uart, DivisorLatchIsBehindDlab) {
    uart.write(kIer, 0x05);
    uart.write(kLcr, kLcrDlab | 0x03);
    uart.write(kDll, 0x01);  // 115200 baud
    uart.write(kDlm, 0x00);
    EXPECT_EQ(uart.read(kDll), 0x01);
    EXPECT_EQ(uart.read(kDlm), 0x00);
    uart.write(kLcr, 0x03);
    EXPECT_EQ(uart.read(kIer), 0x05);
    EXPECT_EQ(uart.read(kLcr), 0x03);
    uart.write(kRbrThr, 'x');
    EXPECT_EQ(out.bytes, "x");  // the DLL write was not a transmission
}

TEST_F(Uart, TransmittedBytesGoToTheSinkAtOnce) {
    for (char c : std::string("hello\n")) {
        ASSERT_TRUE(uart.read(kLsr) & kLsrThrEmpty);  // serial8250_console_putchar's wait
        uart.write(kRbrThr, uint8_t(c));
    }
    EXPECT_EQ(out.bytes, "hello\n");
    EXPECT_EQ(uart.read(kLsr) & (kLsrThrEmpty | kLsrTxEmpty), kLsrThrEmpty | kLsrTxEmpty);
    EXPECT_EQ(uart.transmitted(), 6u);
}

TEST_F(Uart, EnablingThreInterruptWithThrEmptyRaisesIt) {
    // serial8250_do_startup's THRE test: the interrupt must be there after
    // IER := THRI, and again after IER := 0, THRI.
    uart.write(kIirFcr, kFcrEnable);
    uart.write(kIer, kIerThrEmpty);
    const uint8_t iir1 = uart.read(kIirFcr);
    uart.write(kIer, 0);
    uart.write(kIer, kIerThrEmpty);
    const uint8_t iir = uart.read(kIirFcr);
    uart.write(kIer, 0);
    EXPECT_EQ(iir1, kIirFifosEnabled | kIirThrEmpty);
    EXPECT_EQ(iir, kIirFifosEnabled | kIirThrEmpty);  // else UART_BUG_THRE
}

TEST_F(Uart, TxenTestSeesTheThreInterrupt) {
    uart.write(kIer, kIerThrEmpty);
    const uint8_t lsr = uart.read(kLsr);
    const uint8_t iir = uart.read(kIirFcr);
    uart.write(kIer, 0);
    EXPECT_TRUE(lsr & kLsrTxEmpty);
    EXPECT_FALSE(iir & kIirNoInterrupt);  // else UART_BUG_TXEN
}

TEST_F(Uart, ReadingIirClearsThreAndWritingThrRaisesItAgainAsAnEdge) {
    uart.write(kMcr, kMcrOut2 | kMcrDtr | kMcrRts);
    uart.write(kIer, kIerThrEmpty);
    EXPECT_TRUE(irq.level);
    EXPECT_EQ(uart.read(kIirFcr), kIirThrEmpty);  // the source: cleared by this read
    EXPECT_EQ(uart.read(kIirFcr), kIirNoInterrupt);
    EXPECT_FALSE(irq.level);
    uart.write(kRbrThr, 'a');
    EXPECT_TRUE(irq.level);
    const int rises = irq.rises;
    uart.write(kRbrThr, 'b');  // pending again: the write clears, the send re-raises
    EXPECT_EQ(irq.rises, rises + 1);
    EXPECT_EQ(uart.read(kIirFcr), kIirThrEmpty);
}

TEST_F(Uart, InterruptDrivenTransmitDrainsInOneHandlerRun) {
    // serial8250_interrupt: loop while IIR has an interrupt; tx_chars writes
    // up to 16 bytes per THRE and stops THRI when the buffer is empty.
    uart.write(kIirFcr, kFcrEnable);
    uart.write(kMcr, kMcrOut2 | kMcrDtr | kMcrRts);
    std::string pending(40, 'z');
    uart.write(kIer, kIerThrEmpty);  // start_tx
    ASSERT_TRUE(irq.level);
    unsigned rounds = 0;
    while (!(uart.read(kIirFcr) & kIirNoInterrupt) && rounds < 10) {
        ++rounds;
        if (!(uart.read(kLsr) & kLsrThrEmpty)) continue;
        if (pending.empty()) {
            uart.write(kIer, 0);  // __stop_tx
            continue;
        }
        for (unsigned i = 0; i < 16 && !pending.empty(); ++i) {
            uart.write(kRbrThr, uint8_t(pending.back()));
            pending.pop_back();
        }
    }
    EXPECT_EQ(out.bytes, std::string(40, 'z'));
    EXPECT_EQ(rounds, 4u);  // 16 + 16 + 8, then the stop
    EXPECT_FALSE(irq.level);
}

TEST_F(Uart, LineIsGatedByOut2AndLowInLoopback) {
    uart.write(kIer, kIerThrEmpty);
    EXPECT_FALSE(irq.level);  // pending, but OUT2 is clear
    EXPECT_EQ(uart.iir_peek(), kIirThrEmpty);
    uart.write(kMcr, kMcrOut2);
    EXPECT_TRUE(irq.level);
    uart.write(kMcr, kMcrOut2 | kMcrLoop);
    EXPECT_FALSE(irq.level);
    uart.write(kMcr, kMcrOut2);
    EXPECT_TRUE(irq.level);
}

TEST_F(Uart, ReceivedDataBelowTheTriggerIsATimeoutAtItIsDataAvailable) {
    uart.write(kIirFcr, kFcrEnable | 0x80);  // trigger level 8 (Linux's UART_FCR_R_TRIG_10)
    uart.write(kIer, kIerRxData);
    uart.write(kMcr, kMcrOut2);
    for (char c : std::string("abc")) EXPECT_TRUE(uart.receive(uint8_t(c)));
    EXPECT_EQ(uart.read(kIirFcr), kIirFifosEnabled | kIirCharTimeout);
    EXPECT_TRUE(irq.level);
    for (char c : std::string("defgh")) uart.receive(uint8_t(c));
    EXPECT_EQ(uart.read(kIirFcr), kIirFifosEnabled | kIirRxData);
    std::string got;
    while (uart.read(kLsr) & kLsrDataReady) got.push_back(char(uart.read(kRbrThr)));
    EXPECT_EQ(got, "abcdefgh");
    EXPECT_EQ(uart.read(kIirFcr), kIirFifosEnabled | kIirNoInterrupt);
    EXPECT_FALSE(irq.level);
}

TEST_F(Uart, WithoutFifosOneByteIsDataAvailable) {
    uart.write(kIer, kIerRxData);
    uart.receive('q');
    EXPECT_EQ(uart.read(kIirFcr), kIirRxData);  // bits 7-6 clear: FIFOs off
    EXPECT_EQ(uart.read(kRbrThr), 'q');
}

TEST_F(Uart, InterruptIdentificationFollowsTheDatasheetPriority) {
    uart.write(kIirFcr, kFcrEnable);
    uart.write(kIer, kIerMask);
    uart.set_modem_inputs(kMsrCts | kMsrDsr);  // DCD drops: a modem status change
    for (unsigned i = 0; i < 17; ++i) uart.receive(uint8_t('0' + i));  // one too many: overrun
    EXPECT_EQ(uart.read(kIirFcr) & 0x0f, kIirLineStatus);
    EXPECT_EQ(uart.read(kLsr) & kLsrOverrun, kLsrOverrun);  // reading LSR clears it
    EXPECT_EQ(uart.read(kIirFcr) & 0x0f, kIirRxData);
    while (uart.read(kLsr) & kLsrDataReady) uart.read(kRbrThr);
    EXPECT_EQ(uart.read(kIirFcr) & 0x0f, kIirThrEmpty);  // and this read clears it
    EXPECT_EQ(uart.read(kIirFcr) & 0x0f, kIirModemStatus);
    EXPECT_EQ(uart.read(kMsr), kMsrCts | kMsrDsr | kMsrDeltaDcd);
    EXPECT_EQ(uart.read(kIirFcr) & 0x0f, kIirNoInterrupt);
}

TEST_F(Uart, FifoOverrunKeepsTheFifoAndLosesTheNewByte) {
    uart.write(kIirFcr, kFcrEnable);
    for (unsigned i = 0; i < 16; ++i) EXPECT_TRUE(uart.receive(uint8_t(i)));
    EXPECT_EQ(uart.rx_room(), 0u);
    EXPECT_FALSE(uart.receive(0xee));
    EXPECT_EQ(uart.overruns(), 1u);
    const uint8_t lsr = uart.read(kLsr);
    EXPECT_EQ(lsr & (kLsrOverrun | kLsrDataReady), kLsrOverrun | kLsrDataReady);
    EXPECT_EQ(uart.read(kLsr) & kLsrOverrun, 0);
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(uart.read(kRbrThr), i);
}

TEST_F(Uart, WithoutFifosANewByteOverwritesTheHoldingRegister) {
    uart.receive('a');
    EXPECT_FALSE(uart.receive('b'));
    EXPECT_TRUE(uart.read(kLsr) & kLsrOverrun);
    EXPECT_EQ(uart.read(kRbrThr), 'b');
}

TEST_F(Uart, LoopbackSendsTransmittedBytesToTheReceiver) {
    uart.write(kMcr, kMcrLoop);
    uart.write(kRbrThr, 'L');
    EXPECT_EQ(out.bytes, "");
    EXPECT_TRUE(uart.read(kLsr) & kLsrDataReady);
    EXPECT_EQ(uart.read(kRbrThr), 'L');
    EXPECT_FALSE(uart.receive('x'));  // the serial input is disconnected
    uart.write(kMcr, 0);
    uart.write(kRbrThr, 'N');
    EXPECT_EQ(out.bytes, "N");
}

TEST_F(Uart, LoopbackShowsTheModemOutputsInMsr) {
    uart.write(kMcr, kMcrLoop | kMcrRts | kMcrOut2);  // 0x1a
    EXPECT_EQ(uart.read(kMsr) & 0xf0, kMsrCts | kMsrDcd);  // 0x90
    uart.write(kMcr, 0x1f);
    EXPECT_EQ(uart.read(kMsr), 0xf0 | kMsrDeltaDsr);  // DTR rose: DSR changed
    uart.write(kMcr, kMcrLoop | kMcrDtr | kMcrRts | kMcrOut2);  // OUT1 (RI) falls
    EXPECT_EQ(uart.read(kMsr), kMsrCts | kMsrDsr | kMsrDcd | kMsrTrailingRi);
    uart.write(kMcr, 0x1f);  // RI rises: no delta, only its trailing edge counts
    EXPECT_EQ(uart.read(kMsr), 0xf0);
}

TEST_F(Uart, ModemInputsOutsideLoopbackAreAnAttachedTerminal) {
    EXPECT_EQ(uart.read(kMsr), kMsrCts | kMsrDsr | kMsrDcd);
    uart.write(kMcr, kMcrOut2);
    uart.write(kIer, kIerModemStatus);
    uart.set_modem_inputs(kMsrCts | kMsrDsr | kMsrDcd | kMsrRi);
    EXPECT_FALSE(irq.level);  // RI rising is not a change MSR reports
    uart.set_modem_inputs(kMsrDsr | kMsrDcd);
    EXPECT_TRUE(irq.level);
    EXPECT_EQ(uart.read(kMsr), kMsrDsr | kMsrDcd | kMsrDeltaCts | kMsrTrailingRi);
    EXPECT_FALSE(irq.level);
}

TEST_F(Uart, FcrEnableTogglesClearTheReceiver) {
    uart.write(kIirFcr, kFcrEnable);
    uart.receive('a');
    uart.write(kIirFcr, kFcrEnable | kFcrClearRx);
    EXPECT_FALSE(uart.read(kLsr) & kLsrDataReady);
    uart.receive('b');
    uart.write(kIirFcr, 0);  // FIFOs off: both cleared
    EXPECT_FALSE(uart.read(kLsr) & kLsrDataReady);
    EXPECT_EQ(uart.read(kIirFcr) & kIirFifosEnabled, 0);
    uart.write(kIirFcr, kFcrClearRx | 0xc0);  // without FCR0 the other bits do nothing
    EXPECT_EQ(uart.read(kIirFcr) & kIirFifosEnabled, 0);
}

TEST_F(Uart, WritesToReadOnlyRegistersAreCounted) {
    uart.write(kLsr, 0xff);
    uart.write(kMsr, 0xff);
    uart.read(8);
    EXPECT_EQ(uart.unhandled.count, 3u);
    EXPECT_EQ(uart.read(kLsr), kLsrThrEmpty | kLsrTxEmpty);
}

}  // namespace
}  // namespace hv::devices
