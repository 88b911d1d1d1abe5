/* The saved state of a guest's legacy PC platform (kernel/devices/): the
 * record live migration carries from the source to the destination, so that
 * the destination's devices go on exactly where the source's stopped.
 * docs/devices.md, "Saved state (live migration)", is its reference page.
 *
 * Part of the guest ABI (include/hv/hypercall.h embeds it): C, <stdint.h>
 * only. Layout rules: fixed-width fields, no implicit padding anywhere (the
 * `reserved` fields are explicit and must be 0), every struct's size a
 * multiple of 8. A flag is a uint8_t that is 0 or 1.
 *
 * Time: every time is an absolute tick of the 8254's input clock (1193182
 * Hz), counted from the platform's tick 0 - the `now` the devices are given.
 * A destination goes on counting from the same tick 0 (it converts its TSC
 * accordingly), so a time saved here means the same instant there.
 *
 * Restore refuses (and leaves the devices untouched) a record the devices
 * could never have produced themselves: a value out of its range, a flag
 * that is not 0 or 1, a reserved field that is not 0, or parts that
 * contradict each other (an interrupt line level the device would not be
 * driving, a next timer expiry that is not the counter's). The diagnostics
 * (hv_unhandled_state, the expiry/acknowledge/spurious/overrun/reset counts)
 * are carried but not checked.
 *
 * Interrupt lines: each device's `irq_level` is the level it last drove on
 * its line, and the 8259A's `input_level` is what it last saw; in a record
 * of a whole platform they agree (checked), and restoring drives no line. */
#ifndef HV_PLATFORM_STATE_H
#define HV_PLATFORM_STATE_H

#include <stdint.h>

#define HV_PLATFORM_STATE_VERSION 1u

/* hv_pit_state.next_due when counter 0 has no expiry coming. */
#define HV_PIT_NEVER 0xffffffffffffffffull

/* Accesses a device ignored because it does not model them (a diagnostic:
 * carried, not checked but for `reserved`). 16 bytes. */
struct hv_unhandled_state {
    uint64_t count;          /* how many */
    uint16_t last_port;      /* the latest one's port, or register offset */
    uint8_t last_value;      /* the value it wrote; 0 for a read */
    uint8_t last_was_write;  /* 1: a write, 0: a read */
    uint32_t reserved;       /* 0 */
};

/* One 8259A. 40 bytes. */
struct hv_pic_chip_state {
    uint8_t irr;             /* interrupt request register */
    uint8_t isr;             /* in-service register */
    uint8_t imr;             /* interrupt mask register (OCW1) */
    uint8_t input_level;     /* IR0-IR7 as last driven (1 = high); IRR bits are set only where high,
                                and equal to it for level-triggered inputs */
    uint8_t elcr;            /* edge/level control: 1 = level; master bits 0-2 and slave bits 0 and 5
                                are 0 (IRQ0-2, 8, 13 are edge only) */
    uint8_t vector_base;     /* ICW2 T7-T3: a multiple of 8 */
    uint8_t icw3;            /* ICW3: the master's slave inputs, or the slave's ID */
    uint8_t lowest_priority; /* the IR of lowest priority, 0-7 (7 until a rotation) */
    uint8_t init_step;       /* the ICW the data port takes next: 2, 3 (cascade only) or 4 (IC4
                                only), or 0 when initialised (data writes are OCW1) */
    uint8_t icw4_needed;     /* flag: ICW1 IC4 */
    uint8_t single;          /* flag: ICW1 SNGL */
    uint8_t ltim;            /* flag: ICW1 LTIM (every input level-triggered) */
    uint8_t aeoi;            /* flag: ICW4 AEOI */
    uint8_t sfnm;            /* flag: ICW4 SFNM (recorded, not modelled) */
    uint8_t rotate_in_aeoi;  /* flag: OCW2 rotate in automatic EOI mode */
    uint8_t special_mask;    /* flag: OCW3 special mask mode */
    uint8_t read_isr;        /* flag: OCW3 RR/RIS: a command-port read returns ISR (else IRR) */
    uint8_t poll;            /* flag: OCW3 P: the next read is the poll word */
    uint8_t reserved[6];     /* 0 */
    struct hv_unhandled_state unhandled;
};

/* The PC's 8259A pair: the slave's INT on the master's IR2, so the
 * master's input_level bit 2 is the slave's INT output (checked). 112 bytes. */
struct hv_pic_state {
    struct hv_pic_chip_state master;  /* 0x20-0x21, ELCR 0x4d0 */
    struct hv_pic_chip_state slave;   /* 0xa0-0xa1, ELCR 0x4d1 */
    uint64_t acknowledged;            /* INTA cycles (diagnostic) */
    uint64_t spurious;                /* of which found nothing: IRQ7/IRQ15 (diagnostic) */
    struct hv_unhandled_state unhandled;  /* the pair's own: IRQ2 driven from outside */
};

/* One 8254 counter. Its counting element is a function of time: loaded with
 * n ticks at tick t0, it is at n - (now - t0) (modulo its range or period).
 * 72 bytes. */
struct hv_pit_counter_state {
    uint64_t t0;             /* tick the counting element was (re)loaded at; <= hv_pit_state.last_now */
    uint64_t reload_at;      /* with reload_pending: the tick the new count takes over (the end of the
                                current period: t0 + a multiple of n) */
    uint32_t n;              /* with running: the count in force, in ticks: 1-65536 (binary), 1-16665
                                (BCD; over 10000 only from non-BCD digits, as written) */
    uint32_t reload_n;       /* with reload_pending: the count that takes over, same range as n */
    uint32_t frozen;         /* the counting element while not running, 0-65535 */
    uint16_t cr;             /* count register (CR_M, CR_L) as written, binary or BCD */
    uint16_t latched_count;  /* output latch (OL) with count_latched, binary or BCD as counted */
    uint8_t mode;            /* 0-5: the counting mode */
    uint8_t access;          /* RW1-RW0: 1 LSB, 2 MSB, 3 LSB then MSB */
    uint8_t mode_bits;       /* M2-M0 as written, 0-7 (6 and 7 are modes 2 and 3), for the status */
    uint8_t bcd;             /* flag: BCD counting */
    uint8_t configured;      /* flag: a control word (or a count) has been written since power-on;
                                until then mode 0, access 3, binary */
    uint8_t loaded;          /* flag: a count was written since the control word */
    uint8_t cr_lsb;          /* the LSB of an LSB-then-MSB count being written */
    uint8_t write_msb;       /* flag: the next count byte written is the MSB (access 3 only) */
    uint8_t read_msb;        /* flag: the next count byte read is the MSB (access 3 only) */
    uint8_t count_latched;   /* flag: latched_count is held for reading */
    uint8_t status_latched;  /* flag: latched_status is held, read before the count */
    uint8_t latched_status;  /* status byte: OUTPUT, NULL COUNT, then RW/M/BCD, which are this
                                counter's (bits 0-5) while status_latched */
    uint8_t null_count;      /* flag: NULL COUNT */
    uint8_t gate;            /* flag: GATE input (counters 0 and 1: tied high) */
    uint8_t running;         /* flag: the counting element counts (needs configured and loaded) */
    uint8_t fired;           /* flag: modes 0/4 only: terminal count passed before a gate pause */
    uint8_t idle_out;        /* flag: OUT while not running (1 in modes 1, 2, 3, 5) */
    uint8_t reload_pending;  /* flag: modes 2/3 while running: a new count waits for reload_at */
    uint8_t reserved[6];     /* 0 */
    struct hv_unhandled_state unhandled;
};

/* The 8254 and port 0x61's bits that belong to it. 272 bytes. */
struct hv_pit_state {
    struct hv_pit_counter_state counter[3];  /* 0x40, 0x41, 0x42 */
    uint64_t last_now;       /* the latest tick any access saw (time never runs backwards) */
    uint64_t next_due;       /* counter 0's next expiry, > last_now, or HV_PIT_NEVER; it must be the one
                                counter[0] implies */
    uint64_t expiries;       /* edges delivered on IRQ0 (diagnostic) */
    uint64_t coalesced;      /* periodic expiries folded into a delivered one (diagnostic) */
    uint8_t port_b;          /* port 0x61 bits 0-3 as written (bit 0: counter 2's gate) */
    uint8_t irq_level;       /* flag: IRQ0 as last driven: counter 0's OUT between strobes */
    uint8_t reserved[6];     /* 0 */
    struct hv_unhandled_state unhandled;  /* the chip's own: control word reads, bad ports */
};

#define HV_UART_FIFO_SIZE 16u

/* A 16550A UART (COM1). 88 bytes. */
struct hv_uart_state {
    uint64_t transmitted;    /* bytes sent (diagnostic) */
    uint64_t overruns;       /* bytes lost to a full receiver (diagnostic) */
    uint8_t ier;             /* interrupt enable register, bits 0-3 */
    uint8_t lcr;             /* line control register (bit 7: DLAB) */
    uint8_t mcr;             /* modem control register, bits 0-4 (bit 4: loopback) */
    uint8_t scr;             /* scratch register */
    uint8_t dll, dlm;        /* divisor latch */
    uint8_t fcr;             /* FIFO control's kept bits: RCVR trigger (6-7) and DMA mode (3) */
    uint8_t fifo_enabled;    /* flag: FCR bit 0 */
    uint8_t lsr_errors;      /* LSR error bits until LSR is read: only OE (bit 1) is ever set */
    uint8_t msr_delta;       /* MSR bits 0-3: DCTS, DDSR, TERI, DDCD until MSR is read */
    uint8_t modem_inputs;    /* CTS, DSR, RI, DCD outside loopback, as MSR bits 4-7 (bits 0-3: 0) */
    uint8_t thre_pending;    /* flag: the THR empty interrupt is pending (until IIR reports it) */
    uint8_t irq_level;       /* flag: IRQ line as last driven: an interrupt identified, OUT2, no loop */
    uint8_t rx_head;         /* index of the oldest received byte in rx_fifo, 0-15 */
    uint8_t rx_count;        /* received bytes held: 0-16 with FIFOs, 0-1 without */
    uint8_t last_rx;         /* the byte an empty receiver buffer reads as (the last one read) */
    uint8_t rx_fifo[HV_UART_FIFO_SIZE];  /* ring: rx_fifo[(rx_head + i) % 16], i < rx_count; the rest
                                            is stale, kept as it was */
    uint8_t tx_fifo[HV_UART_FIFO_SIZE];  /* transmitter FIFO: all 0, as is tx_count: the model sends
                                            each byte the moment THR is written, so its transmitter
                                            never holds one */
    uint8_t tx_count;        /* 0 (see tx_fifo) */
    uint8_t reserved[7];     /* 0 */
    struct hv_unhandled_state unhandled;
};

#define HV_CMOS_SIZE 128u

/* The MC146818 RTC and its CMOS RAM. The guest's clock at tick t is
 * base_unix + offset + (t - base_tick) / 1193182 seconds. 192 bytes. */
struct hv_cmos_state {
    int64_t base_unix;       /* the host's wall clock, UTC seconds since 1970, at base_tick */
    uint64_t base_tick;      /* the tick base_unix was given at */
    int64_t offset;          /* seconds the guest moved its clock by (mc146818_set_time) */
    uint64_t c_tick;         /* tick register C was last read at (its periodic flag) */
    int64_t c_second;        /* the guest's clock, seconds, at that read (its update-ended flag) */
    uint8_t ram[HV_CMOS_SIZE];  /* registers and RAM as stored: the time registers hold what SET
                                   froze or the guest wrote; A bit 7 (UIP) is 0; B never has both
                                   SET and UIE; C and D are 0 (computed when read) */
    uint8_t index;           /* port 0x70 bits 0-6: the selected register, 0-127 */
    uint8_t nmi_masked;      /* flag: port 0x70 bit 7 (NMI disable) */
    uint8_t reserved[6];     /* 0 */
    struct hv_unhandled_state unhandled;
};

#define HV_I8042_BUFFER_SIZE 16u
#define HV_I8042_RAM_SIZE 32u
#define HV_I8042_BYTE_AUX 0x01u      /* out_flags: the byte is from the AUX (mouse) side */
#define HV_I8042_BYTE_TIMEOUT 0x02u  /* out_flags: the status shows the timeout bit with it */

/* The 8042 keyboard controller, nothing plugged in. 96 bytes. */
struct hv_i8042_state {
    uint64_t resets;         /* reset requests (diagnostic) */
    uint8_t ram[HV_I8042_RAM_SIZE];  /* controller RAM; ram[0] is the command byte */
    uint8_t out_buffer[HV_I8042_BUFFER_SIZE];  /* output ring: out_buffer[(out_head + i) % 16],
                                                  i < out_count; the rest stale */
    uint8_t out_flags[HV_I8042_BUFFER_SIZE];   /* per slot: HV_I8042_BYTE_* only */
    uint8_t out_head;        /* index of the byte at the front, 0-15 */
    uint8_t out_count;       /* bytes waiting to be read from 0x60, 0-16 */
    uint8_t last_read;       /* what 0x60 reads with the buffer empty (the last byte read) */
    uint8_t pending_command; /* a command waiting for its data byte: 0x60-0x7f, 0xd1-0xd4, or 0 */
    uint8_t output_port;     /* the output port as written; bits 4-5 (buffer full) are 0 */
    uint8_t last_write_command;  /* flag: the last write was to 0x64 (status bit 3) */
    uint8_t kbd_irq_level;   /* flag: IRQ1 as last driven: a keyboard-side byte at the front, and
                                command byte bit 0 */
    uint8_t aux_irq_level;   /* flag: IRQ12 likewise: an AUX byte at the front, command byte bit 1 */
    struct hv_unhandled_state unhandled;
};

/* The chipset's reset control register, port 0xcf9. 32 bytes. */
struct hv_reset_control_state {
    uint64_t resets;         /* reset requests (diagnostic) */
    uint8_t value;           /* SYS_RST (bit 1) and FULL_RST (bit 3) as written; RST_CPU (bit 2)
                                never stays set: setting it is the reset */
    uint8_t reserved[7];     /* 0 */
    struct hv_unhandled_state unhandled;
};

/* The whole platform (LegacyPlatform): restored all or nothing. Besides each
 * device's rules, the 8259A inputs must be the devices' lines: IRQ0 the
 * PIT's, IRQ1 and IRQ12 the 8042's, IRQ4 COM1's, IRQ2 the slave's INT, and
 * every other input low (nothing drives it). 824 bytes. */
struct hv_platform_state {
    uint32_t version;        /* HV_PLATFORM_STATE_VERSION */
    uint32_t size;           /* sizeof(struct hv_platform_state) */
    struct hv_pic_state pic;
    struct hv_pit_state pit;
    struct hv_uart_state com1;
    struct hv_cmos_state cmos;
    struct hv_i8042_state kbc;
    struct hv_reset_control_state reset_control;
    uint8_t post_code;       /* the last byte written to port 0x80 */
    uint8_t reserved[7];     /* 0 */
    struct hv_unhandled_state unclaimed;  /* accesses no device claimed (diagnostic) */
};

#endif /* HV_PLATFORM_STATE_H */
