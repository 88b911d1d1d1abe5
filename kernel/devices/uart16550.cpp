#include "kernel/devices/uart16550.h"

namespace hv::devices {

using namespace uart16550;

unsigned Uart16550::trigger_level() const {
    static constexpr uint8_t kLevels[4] = {1, 4, 8, 14};
    return kLevels[fcr_ >> kFcrTriggerShift];
}

// The datasheet's priority: receiver line status, then received data (or
// its timeout), then THR empty, then modem status.
uint8_t Uart16550::iir_peek() const {
    uint8_t id = kIirNoInterrupt;
    if ((ier_ & kIerLineStatus) && (lsr_errors_ & (kLsrOverrun | kLsrParity | kLsrFraming | kLsrBreak)))
        id = kIirLineStatus;
    else if ((ier_ & kIerRxData) && rx_count_)
        id = fifo_on_ && rx_count_ < trigger_level() ? kIirCharTimeout : kIirRxData;
    else if ((ier_ & kIerThrEmpty) && thre_pending_)
        id = kIirThrEmpty;
    else if ((ier_ & kIerModemStatus) && msr_delta_)
        id = kIirModemStatus;
    return uint8_t(id | (fifo_on_ ? kIirFifosEnabled : 0));
}

bool Uart16550::irq_wanted() const {
    return !(iir_peek() & kIirNoInterrupt) && (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
}

void Uart16550::update_irq() {
    const bool level = irq_wanted();
    if (level == line_) return;
    line_ = level;
    irq_.set_level(level);
}

uint8_t Uart16550::modem_status_bits() const {
    if (!(mcr_ & kMcrLoop)) return inputs_;
    // Loopback wires the modem outputs to the inputs: RTS->CTS, DTR->DSR,
    // OUT1->RI, OUT2->DCD.
    return uint8_t((mcr_ & kMcrRts ? kMsrCts : 0) | (mcr_ & kMcrDtr ? kMsrDsr : 0) | (mcr_ & kMcrOut1 ? kMsrRi : 0) |
                   (mcr_ & kMcrOut2 ? kMsrDcd : 0));
}

void Uart16550::modem_changed(uint8_t old_status) {
    const uint8_t now = modem_status_bits();
    const uint8_t diff = old_status ^ now;
    if (diff & kMsrCts) msr_delta_ |= kMsrDeltaCts;
    if (diff & kMsrDsr) msr_delta_ |= kMsrDeltaDsr;
    if (diff & kMsrDcd) msr_delta_ |= kMsrDeltaDcd;
    if ((old_status & kMsrRi) && !(now & kMsrRi)) msr_delta_ |= kMsrTrailingRi;  // RI's trailing edge only
}

unsigned Uart16550::rx_room() const { return mcr_ & kMcrLoop ? 0 : fifo_capacity() - rx_count_; }

bool Uart16550::push_rx(uint8_t byte) {
    if (rx_count_ == fifo_capacity()) {
        // Overrun. A 16550A keeps its FIFO and loses the new byte; in 16450
        // mode the new byte overwrites the one in the holding register.
        lsr_errors_ |= kLsrOverrun;
        ++overruns_;
        if (!fifo_on_) rx_[rx_head_] = byte;
        return false;
    }
    rx_[(rx_head_ + rx_count_) % kFifoSize] = byte;
    ++rx_count_;
    return true;
}

bool Uart16550::receive(uint8_t byte) {
    // In loopback the serial input is disconnected from the line.
    if (mcr_ & kMcrLoop) return false;
    const bool kept = push_rx(byte);
    update_irq();
    return kept;
}

void Uart16550::set_modem_inputs(uint8_t msr_status) {
    const uint8_t old = modem_status_bits();
    inputs_ = msr_status & uint8_t(~kMsrDeltaMask);
    modem_changed(old);  // no change is seen in loopback: the inputs are not connected
    update_irq();
}

void Uart16550::transmit(uint8_t byte) {
    ++transmitted_;
    if (!(mcr_ & kMcrLoop)) {
        tx_.put(byte);
        return;
    }
    push_rx(byte);  // the caller updates the line
}

uint8_t Uart16550::read(uint8_t offset) {
    uint8_t v;
    switch (offset) {
    case kRbrThr:
        if (lcr_ & kLcrDlab) return dll_;
        if (rx_count_) {
            last_rx_ = rx_[rx_head_];
            rx_head_ = (rx_head_ + 1) % kFifoSize;
            --rx_count_;
            update_irq();
        }
        return last_rx_;  // an empty receiver repeats the last byte
    case kIer:
        return lcr_ & kLcrDlab ? dlm_ : ier_;
    case kIirFcr:
        v = iir_peek();
        // Reading IIR when THR empty is the interrupt it reports clears it.
        if ((v & 0x0f) == kIirThrEmpty) {
            thre_pending_ = false;
            update_irq();
        }
        return v;
    case kLcr:
        return lcr_;
    case kMcr:
        return mcr_;
    case kLsr:
        v = uint8_t((rx_count_ ? kLsrDataReady : 0) | lsr_errors_ | kLsrThrEmpty | kLsrTxEmpty);
        lsr_errors_ = 0;  // the error bits are cleared by the read
        update_irq();
        return v;
    case kMsr:
        v = uint8_t(modem_status_bits() | msr_delta_);
        msr_delta_ = 0;
        update_irq();
        return v;
    case kScr:
        return scr_;
    default:
        unhandled.note(offset, 0, false);
        return 0xff;
    }
}

void Uart16550::write(uint8_t offset, uint8_t value) {
    switch (offset) {
    case kRbrThr:
        if (lcr_ & kLcrDlab) {
            dll_ = value;
            return;
        }
        // The write clears a THR-empty interrupt; the byte leaves at once
        // and THR is empty again: the line drops and rises.
        thre_pending_ = false;
        update_irq();
        transmit(value);
        thre_pending_ = true;
        update_irq();
        return;
    case kIer: {
        if (lcr_ & kLcrDlab) {
            dlm_ = value;
            return;
        }
        const uint8_t old = ier_;
        ier_ = value & kIerMask;
        // Enabling ETBEI with THR empty (it always is) raises THR empty,
        // which the 8250 driver's start_tx and its THRE tests rely on.
        if ((ier_ & kIerThrEmpty) && !(old & kIerThrEmpty)) thre_pending_ = true;
        if (!(ier_ & kIerThrEmpty)) thre_pending_ = false;
        update_irq();
        return;
    }
    case kIirFcr: {
        const bool enable = value & kFcrEnable;
        // Changing FCR0 clears both FIFOs; the other bits only count with FCR0 set.
        if (enable != fifo_on_) {
            clear_rx();
            fifo_on_ = enable;
        }
        if (enable) {
            if (value & kFcrClearRx) clear_rx();
            fcr_ = value & uint8_t(3u << kFcrTriggerShift | kFcrDmaMode);
        }
        update_irq();
        return;
    }
    case kLcr:
        lcr_ = value;
        return;
    case kMcr: {
        const uint8_t old = modem_status_bits();
        mcr_ = value & kMcrMask;
        modem_changed(old);
        update_irq();
        return;
    }
    case kScr:
        scr_ = value;
        return;
    default:
        // LSR and MSR are read-only (LSR writes are a factory test mode).
        unhandled.note(offset, value, true);
        return;
    }
}

void Uart16550::save(hv_uart_state& out) const {
    out = hv_uart_state{};
    out.transmitted = transmitted_;
    out.overruns = overruns_;
    out.ier = ier_;
    out.lcr = lcr_;
    out.mcr = mcr_;
    out.scr = scr_;
    out.dll = dll_;
    out.dlm = dlm_;
    out.fcr = fcr_;
    out.fifo_enabled = fifo_on_;
    out.lsr_errors = lsr_errors_;
    out.msr_delta = msr_delta_;
    out.modem_inputs = inputs_;
    out.thre_pending = thre_pending_;
    out.irq_level = line_;
    out.rx_head = uint8_t(rx_head_);
    out.rx_count = uint8_t(rx_count_);
    out.last_rx = last_rx_;
    for (unsigned i = 0; i < kFifoSize; ++i) out.rx_fifo[i] = rx_[i];
    unhandled.save(out.unhandled);
}

bool Uart16550::valid(const hv_uart_state& in) {
    static_assert(HV_UART_FIFO_SIZE == kFifoSize);
    if (!is_flag(in.fifo_enabled) || !is_flag(in.thre_pending) || !is_flag(in.irq_level)) return false;
    if (!all_zero(in.reserved, sizeof in.reserved) || !Unhandled::valid(in.unhandled)) return false;
    // Bits the registers never hold: IER 7-4 and MCR 7-5 read 0, FCR keeps
    // only the trigger and DMA bits, no error but an overrun is detected,
    // the modem inputs are MSR's top half and its deltas the bottom one.
    if ((in.ier & ~kIerMask) || (in.mcr & ~kMcrMask) || (in.fcr & ~(3u << kFcrTriggerShift | kFcrDmaMode)) ||
        (in.lsr_errors & ~kLsrOverrun) || (in.msr_delta & ~kMsrDeltaMask) || (in.modem_inputs & kMsrDeltaMask))
        return false;
    if (in.rx_head >= kFifoSize || in.rx_count > (in.fifo_enabled ? kFifoSize : 1u)) return false;
    // Transmission is instantaneous: the transmitter never holds a byte.
    if (in.tx_count || !all_zero(in.tx_fifo, sizeof in.tx_fifo)) return false;
    // update_irq() follows every change: the line is what the registers say.
    Uart16550 scratch(IrqLine{}, ByteSink{});
    scratch.apply(in);
    return scratch.irq_wanted() == bool(in.irq_level);
}

void Uart16550::apply(const hv_uart_state& in) {
    transmitted_ = in.transmitted;
    overruns_ = in.overruns;
    ier_ = in.ier;
    lcr_ = in.lcr;
    mcr_ = in.mcr;
    scr_ = in.scr;
    dll_ = in.dll;
    dlm_ = in.dlm;
    fcr_ = in.fcr;
    fifo_on_ = in.fifo_enabled;
    lsr_errors_ = in.lsr_errors;
    msr_delta_ = in.msr_delta;
    inputs_ = in.modem_inputs;
    thre_pending_ = in.thre_pending;
    line_ = in.irq_level;
    rx_head_ = in.rx_head;
    rx_count_ = in.rx_count;
    last_rx_ = in.last_rx;
    for (unsigned i = 0; i < kFifoSize; ++i) rx_[i] = in.rx_fifo[i];
    unhandled.restore(in.unhandled);
}

bool Uart16550::restore(const hv_uart_state& in) {
    if (!valid(in)) return false;
    apply(in);
    return true;
}

}  // namespace hv::devices
