// The 8259A pair as Linux's arch/x86/kernel/i8259.c programs and uses it,
// and as the hypervisor's injection path asks it for vectors.
#include "kernel/devices/pic8259.h"

#include <gtest/gtest.h>

namespace hv::devices {
namespace {

constexpr uint8_t kMasterBase = 0x30, kSlaveBase = 0x38;  // ISA_IRQ_VECTOR(0) and (8) on x86-64

// probe_8259A() then init_8259A(auto_eoi), then the IRQs Linux has unmasked.
void linux_init(Pic8259Pair& pic, bool auto_eoi = false, uint16_t unmasked = 0) {
    pic.write(0xa1, 0xff);
    pic.write(0x21, 0xfb);               // everything but the cascade
    ASSERT_EQ(pic.read(0x21), 0xfb);     // else "Using NULL legacy PIC"
    pic.write(0x21, 0xff);
    pic.write(0x20, 0x11);               // ICW1: edge, cascade, ICW4 needed
    pic.write(0x21, kMasterBase);        // ICW2
    pic.write(0x21, 0x04);               // ICW3: slave on IR2
    pic.write(0x21, auto_eoi ? 0x03 : 0x01);  // ICW4: 8086 mode (+ AEOI)
    pic.write(0xa0, 0x11);
    pic.write(0xa1, kSlaveBase);
    pic.write(0xa1, 0x02);               // ICW3: slave ID 2
    pic.write(0xa1, 0x01);
    const uint16_t mask = uint16_t(~unmasked & ~(1u << 2));
    pic.write(0x21, uint8_t(mask));
    pic.write(0xa1, uint8_t(mask >> 8));
}

// mask_and_ack_8259A: mask, then specific EOI (to the slave, then to the
// master's IR2). unmask afterwards, as handle_level_irq does.
void linux_ack(Pic8259Pair& pic, unsigned irq) {
    if (irq & 8) {
        pic.write(0xa0, uint8_t(0x60 + (irq & 7)));
        pic.write(0x20, 0x62);
    } else {
        pic.write(0x20, uint8_t(0x60 + irq));
    }
}

uint8_t read_isr(Pic8259Pair& pic, uint16_t cmd) {
    pic.write(cmd, 0x0b);  // OCW3: read ISR
    uint8_t v = pic.read(cmd);
    pic.write(cmd, 0x0a);  // back to IRR
    return v;
}

TEST(Pic8259, LinuxInitSequenceSetsVectorsAndMasks) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 0);
    EXPECT_FALSE(pic.master().initialising());
    EXPECT_FALSE(pic.slave().initialising());
    EXPECT_EQ(pic.master().vector_base(), kMasterBase);
    EXPECT_EQ(pic.slave().vector_base(), kSlaveBase);
    EXPECT_EQ(pic.read(0x21), 0xfa);
    EXPECT_EQ(pic.read(0xa1), 0xff);
    EXPECT_FALSE(pic.master().auto_eoi());
    EXPECT_EQ(pic.unhandled_count(), 0u);

    pic.set_irq(0, true);
    ASSERT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 0);
    EXPECT_EQ(read_isr(pic, 0x20), 0x01);
    linux_ack(pic, 0);
    EXPECT_EQ(read_isr(pic, 0x20), 0x00);
}

TEST(Pic8259, MaskRegisterReadsBackWhatWasWritten) {
    Pic8259Pair pic;
    for (unsigned v : {0x00u, 0xffu, 0xfbu, 0x5au, 0xa5u}) {
        pic.write(0x21, uint8_t(v));
        pic.write(0xa1, uint8_t(~v));
        EXPECT_EQ(pic.read(0x21), v);
        EXPECT_EQ(pic.read(0xa1), uint8_t(~v));
    }
}

TEST(Pic8259, BeforeInitialisationEverythingIsMasked) {
    Pic8259Pair pic;
    pic.set_irq(0, true);
    pic.set_irq(9, true);
    EXPECT_FALSE(pic.pending());
    EXPECT_EQ(pic.read(0x21), 0xff);
}

TEST(Pic8259, VectorBaseIgnoresTheLowThreeBitsOfIcw2) {
    Pic8259Pair pic;
    pic.write(0x20, 0x11);
    pic.write(0x21, 0x47);
    pic.write(0x21, 0x04);
    pic.write(0x21, 0x01);
    pic.write(0x21, 0x00);
    pic.set_irq(3, true);
    EXPECT_EQ(pic.acknowledge(), 0x43);
}

TEST(Pic8259, EdgeInputHeldHighRaisesOneRequest) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 4);
    pic.set_irq(4, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 4);
    linux_ack(pic, 4);
    pic.set_irq(4, true);  // still high: no new edge
    EXPECT_FALSE(pic.pending());
    pic.set_irq(4, false);
    pic.set_irq(4, true);  // a new rising edge
    EXPECT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 4);
}

TEST(Pic8259, RequestWithdrawnBeforeAcknowledgeIsSpuriousIrq7) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 3);
    pic.set_irq(3, true);
    EXPECT_TRUE(pic.pending());
    pic.set_irq(3, false);  // "IR must remain high until the first INTA"
    EXPECT_FALSE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 7);
    EXPECT_EQ(read_isr(pic, 0x20), 0x00);  // a default IR7 sets no ISR bit
    EXPECT_EQ(pic.spurious(), 1u);
}

TEST(Pic8259, AcknowledgeWithNothingPendingIsSpuriousIrq7) {
    Pic8259Pair pic;
    linux_init(pic);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 7);
    EXPECT_EQ(pic.spurious(), 1u);
}

TEST(Pic8259, LowestIrqFirstAndInServiceBlocksLowerPriorities) {
    Pic8259Pair pic;
    linux_init(pic, false, 0x00ff);
    pic.set_irq(5, true);
    pic.set_irq(3, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 3);
    EXPECT_FALSE(pic.pending());  // 5 waits for 3's EOI
    pic.set_irq(1, true);         // a higher priority nests
    EXPECT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 1);
    EXPECT_EQ(read_isr(pic, 0x20), 0x0a);
    pic.write(0x20, 0x20);  // non-specific EOI ends the highest in service: 1
    EXPECT_EQ(read_isr(pic, 0x20), 0x08);
    EXPECT_FALSE(pic.pending());
    pic.write(0x20, 0x20);
    EXPECT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 5);
}

TEST(Pic8259, MaskedRequestStaysInIrrAndIsNotPending) {
    Pic8259Pair pic;
    linux_init(pic);
    pic.set_irq(4, true);
    EXPECT_FALSE(pic.pending());
    EXPECT_EQ(pic.read(0x20) & 0x10, 0x10);  // IRR is selected after ICW1
    pic.write(0x21, 0xeb);                    // unmask 4
    EXPECT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 4);
}

TEST(Pic8259, SlaveInterruptsCascadeThroughMasterIrq2) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 12);
    pic.set_irq(12, true);
    ASSERT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kSlaveBase + 4);
    EXPECT_EQ(read_isr(pic, 0x20), 0x04);  // IR2 in service on the master
    EXPECT_EQ(read_isr(pic, 0xa0), 0x10);
    pic.set_irq(12, false);
    linux_ack(pic, 12);
    EXPECT_EQ(read_isr(pic, 0x20), 0x00);
    EXPECT_EQ(read_isr(pic, 0xa0), 0x00);
    EXPECT_FALSE(pic.pending());
}

TEST(Pic8259, SlaveRequestsWaitForTheMastersIrq2Eoi) {
    Pic8259Pair pic;
    linux_init(pic, false, (1u << 8) | (1u << 12));
    pic.set_irq(12, true);
    EXPECT_EQ(pic.acknowledge(), kSlaveBase + 4);
    pic.set_irq(8, true);  // higher on the slave, but IR2 is in service on the master
    EXPECT_FALSE(pic.pending());
    linux_ack(pic, 12);
    EXPECT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kSlaveBase + 0);
}

TEST(Pic8259, SecondSlaveRequestIsDeliveredAfterTheFirst) {
    Pic8259Pair pic;
    linux_init(pic, false, (1u << 9) | (1u << 12));
    pic.set_irq(9, true);
    pic.set_irq(12, true);
    EXPECT_EQ(pic.acknowledge(), kSlaveBase + 1);
    linux_ack(pic, 9);
    ASSERT_TRUE(pic.pending());  // the slave's INT rose again for 12
    EXPECT_EQ(pic.acknowledge(), kSlaveBase + 4);
}

TEST(Pic8259, SlaveMaskedAtTheMasterIsNotPending) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 10);
    pic.write(0x21, 0xff);  // IR2 masked on the master
    pic.set_irq(10, true);
    EXPECT_FALSE(pic.pending());
    pic.write(0x21, 0xfb);
    EXPECT_TRUE(pic.pending());
}

TEST(Pic8259, AutoEoiLeavesNothingInService) {
    Pic8259Pair pic;
    linux_init(pic, true, 0x00ff);
    EXPECT_TRUE(pic.master().auto_eoi());
    pic.set_irq(1, true);
    pic.set_irq(6, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 1);
    EXPECT_EQ(read_isr(pic, 0x20), 0x00);
    EXPECT_TRUE(pic.pending());  // 6 needs no EOI of 1 first
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 6);
}

TEST(Pic8259, Ocw3SelectsIrrOrIsrForReads) {
    Pic8259Pair pic;
    linux_init(pic, false, 0x00ff);
    pic.set_irq(0, true);
    pic.set_irq(5, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 0);
    pic.write(0x20, 0x0a);
    EXPECT_EQ(pic.read(0x20), 0x20);  // IRR: 5 (0 went in service)
    pic.write(0x20, 0x0b);
    EXPECT_EQ(pic.read(0x20), 0x01);  // ISR: 0
    EXPECT_EQ(pic.read(0x20), 0x01);  // the selection stays
    EXPECT_EQ(pic.read(0x21), 0x00);  // the data port still reads the mask
}

TEST(Pic8259, PollModeReadIsTheAcknowledge) {
    Pic8259Pair pic;
    linux_init(pic, false, 0x00ff);
    pic.write(0x20, 0x0c);  // OCW3: poll
    EXPECT_EQ(pic.read(0x20), 0x00);  // no request: I clear
    pic.set_irq(6, true);
    pic.write(0x20, 0x0c);
    EXPECT_EQ(pic.read(0x20), 0x86);
    EXPECT_EQ(read_isr(pic, 0x20), 0x40);
    EXPECT_EQ(pic.read(0x20), 0x00);  // poll mode lasts one read: IRR again
}

TEST(Pic8259, SetPriorityAndRotationAreHonoured) {
    Pic8259Pair pic;
    linux_init(pic, false, 0x00ff);
    pic.write(0x20, 0xc4);  // set priority: IR4 lowest, so IR5 highest
    pic.set_irq(3, true);
    pic.set_irq(6, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 6);
    pic.write(0x20, 0xa0);  // rotate on non-specific EOI: IR6 becomes lowest
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 3);
    pic.write(0x20, 0xe3);  // rotate on specific EOI 3: IR3 lowest, IR4 highest
    pic.set_irq(4, true);
    pic.set_irq(1, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 4);
    EXPECT_EQ(pic.unhandled_count(), 0u);
}

TEST(Pic8259, SpecialMaskModeLetsLowerLevelsThrough) {
    Pic8259Pair pic;
    linux_init(pic, false, 0x00ff);
    pic.set_irq(3, true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 3);
    pic.set_irq(5, true);
    EXPECT_FALSE(pic.pending());
    pic.write(0x21, 0x08 | 0x04);  // mask the level in service
    pic.write(0x20, 0x68);         // OCW3: set special mask mode
    EXPECT_TRUE(pic.master().special_mask());
    EXPECT_TRUE(pic.pending());
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 5);
    pic.write(0x20, 0x48);  // reset special mask mode
    EXPECT_FALSE(pic.master().special_mask());
}

TEST(Pic8259, ElcrKeepsReservedIrqsEdgeTriggered) {
    Pic8259Pair pic;
    pic.write(0x4d0, 0xff);
    pic.write(0x4d1, 0xff);
    EXPECT_EQ(pic.read(0x4d0), 0xf8);  // IRQ0-2 cannot be level
    EXPECT_EQ(pic.read(0x4d1), 0xde);  // nor IRQ8, IRQ13
}

TEST(Pic8259, LevelTriggeredInputRequestsAgainWhileHigh) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 11);
    pic.write(0x4d1, 0x08);  // IRQ11 level-triggered
    pic.set_irq(11, true);
    EXPECT_EQ(pic.acknowledge(), kSlaveBase + 3);
    linux_ack(pic, 11);
    EXPECT_TRUE(pic.pending());  // the line is still high
    pic.set_irq(11, false);
    EXPECT_FALSE(pic.pending());
}

TEST(Pic8259, Icw1ResetsTheEdgeSenseLatch) {
    Pic8259Pair pic;
    pic.set_irq(4, true);  // high before the guest initialises the chip
    linux_init(pic, false, 1u << 4);
    EXPECT_FALSE(pic.pending());  // must fall and rise again
    pic.set_irq(4, false);
    pic.set_irq(4, true);
    EXPECT_TRUE(pic.pending());
}

TEST(Pic8259, WhatIsNotModelledIsCounted) {
    Pic8259Pair pic;
    pic.set_irq(2, true);  // the cascade input belongs to the slave
    EXPECT_EQ(pic.unhandled_count(), 1u);
    pic.write(0x20, 0x10);  // ICW1 without ICW4: 8080 mode
    pic.write(0x21, 0x08);
    pic.write(0x21, 0x04);
    EXPECT_EQ(pic.unhandled_count(), 2u);
    pic.write(0x20, 0x11);
    pic.write(0x21, 0x08);
    pic.write(0x21, 0x04);
    pic.write(0x21, 0x00);  // ICW4 without uPM
    EXPECT_EQ(pic.unhandled_count(), 3u);
}

TEST(Pic8259, LineBindsToAnInput) {
    Pic8259Pair pic;
    linux_init(pic, false, 1u << 4);
    IrqLine l = pic.line(4);
    l.set_level(true);
    EXPECT_EQ(pic.acknowledge(), kMasterBase + 4);
    linux_ack(pic, 4);
    l.pulse();  // a fresh edge while high
    EXPECT_TRUE(pic.pending());
}

}  // namespace
}  // namespace hv::devices
