// A 16550A UART at a base port (registers by offset 0-7), as Linux's 8250
// driver probes and drives it: COM1 is 0x3f8, IRQ 4.
//
// Transmission is instantaneous: a byte written to THR goes to the sink (or,
// in loopback, to the receiver) at once, so THR and the transmitter are
// always empty (LSR THRE|TEMT), and the THR-empty interrupt comes back as
// soon as a write has cleared it. The line still sees the write as a fresh
// interrupt (it drops, then rises), as on a chip that has sent the byte.
//
// Reception: receive() puts a byte in the 16-byte FIFO (1 byte in 16450 mode,
// FIFOs off); a full FIFO is an overrun (LSR OE, the byte lost). There is no
// character time: the line is idle between receive() calls, so data below the
// trigger level is reported at once as a character timeout (IIR 0xc) and at
// or above it as received data available (IIR 0x4); trigger levels decide
// which, not when.
//
// The interrupt line is "an interrupt is identified AND MCR OUT2", as a PC
// gates the UART's INTR with OUT2; in loopback OUT2 is looped back to DCD
// and the pin is inactive, so the line is low.
//
// Modelled: RBR/THR, IER, IIR/FCR (FIFO enable and clear, trigger levels,
// IIR bits 7-6 = 11 with FIFOs on: a 16550A), LCR with DLAB, DLL/DLM, MCR
// (loopback: DTR/RTS/OUT1/OUT2 appear as DSR/CTS/RI/DCD), LSR, MSR with its
// delta bits, SCR; the four interrupt sources in the datasheet's priority.
// Not modelled: baud rate and framing (kept, without effect), break, parity
// and framing errors, DMA mode, the 64-byte FIFO of later parts. The modem
// inputs outside loopback are a terminal that is attached (CTS, DSR, DCD
// asserted) unless set_modem_inputs() says otherwise.
#pragma once

#include <stdint.h>

#include "kernel/devices/device.h"

namespace hv::devices {

namespace uart16550 {
inline constexpr uint16_t kCom1Base = 0x3f8;
inline constexpr unsigned kCom1Irq = 4;
inline constexpr unsigned kRegisterCount = 8;
// Register offsets (DLAB in LCR turns 0 and 1 into the divisor latch).
inline constexpr uint8_t kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
inline constexpr uint8_t kDll = 0, kDlm = 1;
// IER
inline constexpr uint8_t kIerRxData = 0x01;     // ERBFI: received data available (and timeout)
inline constexpr uint8_t kIerThrEmpty = 0x02;   // ETBEI
inline constexpr uint8_t kIerLineStatus = 0x04; // ELSI
inline constexpr uint8_t kIerModemStatus = 0x08;// EDSSI
inline constexpr uint8_t kIerMask = 0x0f;       // bits 7-4 are 0 on a 16550A
// IIR
inline constexpr uint8_t kIirNoInterrupt = 0x01;
inline constexpr uint8_t kIirModemStatus = 0x00;
inline constexpr uint8_t kIirThrEmpty = 0x02;
inline constexpr uint8_t kIirRxData = 0x04;
inline constexpr uint8_t kIirLineStatus = 0x06;
inline constexpr uint8_t kIirCharTimeout = 0x0c;
inline constexpr uint8_t kIirFifosEnabled = 0xc0;
// FCR
inline constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrClearTx = 0x04, kFcrDmaMode = 0x08;
inline constexpr unsigned kFcrTriggerShift = 6;
// LCR
inline constexpr uint8_t kLcrDlab = 0x80;
// MCR
inline constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
inline constexpr uint8_t kMcrMask = 0x1f;
// LSR
inline constexpr uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrParity = 0x04, kLsrFraming = 0x08;
inline constexpr uint8_t kLsrBreak = 0x10, kLsrThrEmpty = 0x20, kLsrTxEmpty = 0x40, kLsrRxFifoError = 0x80;
// MSR
inline constexpr uint8_t kMsrDeltaCts = 0x01, kMsrDeltaDsr = 0x02, kMsrTrailingRi = 0x04, kMsrDeltaDcd = 0x08;
inline constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
inline constexpr uint8_t kMsrDeltaMask = 0x0f;
inline constexpr unsigned kFifoSize = 16;
}  // namespace uart16550

class Uart16550 {
public:
    Uart16550(IrqLine irq, ByteSink tx) : irq_(irq), tx_(tx) {}
    Uart16550(const Uart16550&) = delete;
    Uart16550& operator=(const Uart16550&) = delete;

    // offset = port - base, 0-7.
    uint8_t read(uint8_t offset);
    void write(uint8_t offset, uint8_t value);

    // A byte arriving on the serial line. False if it was lost (overrun).
    bool receive(uint8_t byte);
    // Bytes the receiver takes before an overrun, for a caller that wants to
    // hold input back rather than lose it.
    unsigned rx_room() const;
    // The modem inputs outside loopback (CTS, DSR, RI, DCD as MSR bits 4-7).
    void set_modem_inputs(uint8_t msr_status);

    bool irq_level() const { return line_; }
    uint8_t iir_peek() const;  // IIR without its read side effect
    uint64_t transmitted() const { return transmitted_; }
    uint64_t overruns() const { return overruns_; }
    Unhandled unhandled;

    // Saved state (include/hv/platform_state.h). restore() refuses (changing
    // nothing) registers with bits the chip never holds, a receiver FIFO
    // beyond its capacity, a transmitter holding bytes (this one never
    // does), or an IRQ level other than the one the registers identify. It
    // sends nothing and drives nothing: the line is taken to be at the
    // recorded level, as the 8259A's record must say too.
    void save(hv_uart_state& out) const;
    static bool valid(const hv_uart_state& in);
    bool restore(const hv_uart_state& in);

private:
    void apply(const hv_uart_state& in);
    bool irq_wanted() const;  // the level update_irq() drives the line to
    unsigned fifo_capacity() const { return fifo_on_ ? uart16550::kFifoSize : 1; }
    unsigned trigger_level() const;
    uint8_t modem_status_bits() const;  // MSR bits 7-4 as the inputs stand
    void modem_changed(uint8_t old_status);
    void transmit(uint8_t byte);
    bool push_rx(uint8_t byte);
    void update_irq();
    void clear_rx() { rx_head_ = rx_count_ = 0; }

    IrqLine irq_;
    ByteSink tx_;
    uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;  // 9600 baud, as a BIOS leaves COM1
    uint8_t fcr_ = 0;        // trigger and DMA bits of the last FCR write
    bool fifo_on_ = false;
    uint8_t lsr_errors_ = 0; // OE (and the other error bits, never set here) until LSR is read
    uint8_t msr_delta_ = 0;
    uint8_t inputs_ = uart16550::kMsrCts | uart16550::kMsrDsr | uart16550::kMsrDcd;
    bool thre_pending_ = false;
    bool line_ = false;
    uint8_t rx_[uart16550::kFifoSize] = {};
    unsigned rx_head_ = 0, rx_count_ = 0;
    uint8_t last_rx_ = 0;
    uint64_t transmitted_ = 0, overruns_ = 0;
};

}  // namespace hv::devices
