/* The hypercall ABI between the hypervisor and its guests: one C-compatible
 * header, included by both sides. docs/hypercalls.md is its reference page.
 *
 * Calling convention (KVM's): VMCALL with the call number in RAX and the
 * arguments in RBX, RCX, RDX, RSI; the result comes back in RAX, 0 (or a
 * non-negative value) on success, a negative errno on failure. Every other
 * register is preserved.
 *
 * How a guest starts: the hypervisor loads the guest's flat image at
 * HV_GUEST_LOAD_GPA and enters it there in 32-bit protected mode with flat
 * 4 GiB segments, paging off, interrupts off, and EBX = HV_GUEST_BOOT_GPA,
 * where a struct hv_guest_boot describes the guest. That is its boot vCPU,
 * index 0; a guest with several (vcpus= in its description) starts each
 * other one with HV_HC_START_VCPU. */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H

#include <stdint.h>

#include "platform_state.h"

#define HV_ABI_VERSION 3u

#define HV_GUEST_BOOT_GPA 0x1000u
#define HV_GUEST_LOAD_GPA 0x100000u
#define HV_GUEST_BOOT_MAGIC 0x544f4f42u /* "BOOT" */

#define HV_GUEST_NAME_MAX 32u
#define HV_GUEST_ARGS_MAX 224u

struct hv_guest_boot {
    uint32_t magic;                 /* HV_GUEST_BOOT_MAGIC */
    uint32_t abi_version;           /* HV_ABI_VERSION */
    uint64_t mem_bytes;             /* guest-physical memory: [0, mem_bytes) */
    char name[HV_GUEST_NAME_MAX];   /* NUL-terminated */
    char args[HV_GUEST_ARGS_MAX];   /* "key=value,key=value", NUL-terminated */
    uint64_t tsc_hz;                /* the TSC's frequency, as the hypervisor measured it */
    uint32_t vcpus;                 /* its vCPUs, 1..HV_MAX_VCPUS; index 0 is the boot vCPU */
    uint32_t reserved;
};

/* vCPUs per guest. */
#define HV_MAX_VCPUS 4u

/* Call numbers. */
enum hv_hypercall {
    HV_HC_VERSION = 0,        /* () -> HV_ABI_VERSION */
    HV_HC_EXIT = 1,           /* (status) -> does not return; 0 means success */
    HV_HC_MEMTEST_REPORT = 2, /* (gpa, bytes, mismatches) -> 0; the range the
                                 guest wrote and verified, for the EPT audit */
    HV_HC_CONSOLE_WRITE = 3,  /* (gpa, len) -> len; len <= HV_CONSOLE_WRITE_MAX */
    HV_HC_STATS = 4,          /* (gpa, size) -> bytes written: struct hv_stats */

    /* Privileged: the control guest only (-EPERM for any other). Guests are
     * named by id: their position on the kernel command line, from 0. */
    HV_HC_PAUSE = 5,          /* (id) -> 0 once paused, -EAGAIN until then */
    HV_HC_RESUME = 6,         /* (id) -> 0 */
    HV_HC_GET_STATE = 7,      /* (id, gpa, size, vcpu) -> bytes: struct hv_guest_state of
                                 that vCPU; paused only */
    HV_HC_SET_STATE = 8,      /* (id, gpa, size) -> 0: for the record's vcpu_index;
                                 applied when resumed; paused only */
    HV_HC_MAP_GUEST = 9,      /* (id, gpa, flags) -> bytes mapped: the guest's whole
                                 memory appears in the caller's at gpa */
    HV_HC_STOP_GUEST = 10,    /* (id) -> 0: the guest is stopped for good */
    HV_HC_SET_MEMORY_REGION = 11, /* (id, gpa of struct hv_memory_region) -> 0 */
    HV_HC_GET_DIRTY_LOG = 12,     /* (id, slot, bitmap gpa, bitmap bytes) -> 0 */
    HV_HC_CLEAR_DIRTY_LOG = 13,   /* (id, gpa of struct hv_clear_dirty_log) -> 0 */
    HV_HC_GUEST_STATS = 14,       /* (id, gpa, size) -> bytes: struct hv_guest_stats */
    HV_HC_REGISTER_MMIO = 15,     /* (gpa, size) -> 0: a test device there, in the caller */
    HV_HC_CREATE_GUEST = 16,      /* (gpa, len of a guest description) -> the new guest's id */
    HV_HC_ENABLE_CAP = 17,        /* (id, cap, flags) -> 0 */
    HV_HC_UNMAP_GUEST = 18,       /* (gpa) -> 0: the caller's window at gpa is gone */
    HV_HC_START_VCPU = 19,        /* (index, rip, arg) -> 0: the caller's vCPU `index`
                                     starts at rip (see below) */
};

/* HV_HC_START_VCPU: the caller starts one of its own vCPUs (1..vcpus-1),
 * once, as a SIPI starts an AP. The vCPU enters at rip (below 4 GiB, inside
 * the caller's memory) in the state the boot vCPU started in (32-bit
 * protected mode, flat segments, paging and interrupts off, its x87/SSE and
 * every other register as at boot) with EBX = HV_GUEST_BOOT_GPA, ESI = its
 * index and EDI = arg (a 32-bit value). -EINVAL for an index the guest does
 * not have, rip outside its memory or arg above 32 bits; -EBUSY if that vCPU
 * has started already (index 0 always has). Until it starts a vCPU does not
 * run; a pause, the state record and a stop include it all the same. */

/* HV_HC_ENABLE_CAP: KVM_ENABLE_CAP's dirty-log capability, with KVM's numbers.
 * flags 0 turns manual protection off again. Only while no slot logs. */
#define HV_CAP_MANUAL_DIRTY_LOG_PROTECT2 168u
#define HV_DIRTY_LOG_MANUAL_PROTECT_ENABLE 1u
#define HV_DIRTY_LOG_INITIALLY_SET 2u

/* HV_HC_CREATE_GUEST takes the value of a guest= word of the kernel command
 * line, e.g. "dst:image=none,start=paused,mem=16,cpu=0,dirty_log=manual": the
 * dirty-log mode is chosen here, before any slot logs, as KVM enables its
 * capability. Not role=control. */
#define HV_CREATE_SPEC_MAX 255u

/* The test device behind an MMIO region (HV_HC_REGISTER_MMIO): accesses trap
 * to the hypervisor (no memory slot covers them) and are emulated. Registers
 * are 64 bits wide at offsets 0, 8, ..., 0xf8 and keep what is written (a
 * 32-bit write zero-extends); HV_MMIO_ACCESSES reads the number of accesses
 * so far. Other offsets read 0 and ignore writes. Emulated instructions: MOV
 * between a general register (not RSP) and memory, 32 or 64 bits. */
#define HV_MMIO_MAX 4u
#define HV_MMIO_SIZE 4096u
#define HV_MMIO_REGS 32u
#define HV_MMIO_ACCESSES 0x100u

/* Memory slots (KVM_SET_USER_MEMORY_REGION's semantics). Slot 0 is the
 * guest's own memory [0, mem): only its flags may change. Other slots get
 * fresh zeroed host memory when created; a move keeps their contents. */
#define HV_MAX_SLOTS 16u
#define HV_MEM_LOG_DIRTY_PAGES 1u /* KVM_MEM_LOG_DIRTY_PAGES */
#define HV_MEM_READONLY 2u        /* KVM_MEM_READONLY */
#define HV_MAX_SLOT_BYTES (1ull << 30)

struct hv_memory_region {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr; /* 4 KiB aligned */
    uint64_t memory_size;     /* 4 KiB multiple; 0 deletes the slot */
};

/* KVM_CLEAR_DIRTY_LOG: re-protect the pages whose bits are set in the
 * bitmap (manual protection only). first_page is a multiple of 64, and so is
 * num_pages unless the range ends the slot. */
struct hv_clear_dirty_log {
    uint32_t slot;
    uint32_t reserved; /* 0 */
    uint64_t first_page;
    uint64_t num_pages;
    uint64_t bitmap_gpa; /* (num_pages + 63) / 64 words, 8-byte aligned */
};

/* Another guest's MMU counters (HV_HC_GUEST_STATS). */
struct hv_guest_stats {
    uint64_t faults_slow, faults_fast, fast_retries;
    uint64_t wp_cleared, tlb_flushes;
    uint64_t splits, split_alloc_fallbacks, lazy_splits;
    uint64_t mmio_created, mmio_stale;
    uint64_t leaves_4k, leaves_2m, leaves_1g;
    uint64_t exits, ept_exits;
    uint64_t ept_fault_cycles; /* TSC cycles spent handling EPT violations and misconfigurations */
    uint64_t mmio_walk_zaps, mmio_wrap_zaps, mmio_emulated;
    uint64_t memslot_generation;
    uint64_t recovered_huge; /* 2M ranges zapped back to huge when logging stopped */
    uint64_t pml_entries;    /* page-modification log entries taken (dirty_log=pml) */
    uint64_t console_lines;  /* lines the guest has printed on its console */
    uint64_t vcpus;          /* its vCPUs: a migration's destination needs as many */
};

/* HV_HC_MAP_GUEST flags. */
#define HV_MAP_WRITABLE 1u
#define HV_MAP_MAX 4u /* windows per caller */

/* A segment register, in the VMCS's access-rights format. */
struct hv_segment {
    uint64_t base;
    uint32_t limit;
    uint32_t access_rights; /* bit 16: unusable */
    uint16_t selector;
    uint16_t reserved[3];
};

/* The state of a paused guest's vCPU: everything a destination needs to go
 * on where the source stopped (docs/hypercalls.md, "The state record").
 * CR0 and CR4 are as the guest sees them (what MOV from CR reads). */
struct hv_vcpu_state {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer, pat;
    uint64_t dr0, dr1, dr2, dr3, dr6, dr7;
    struct hv_segment es, cs, ss, ds, fs, gs, ldtr, tr;
    uint64_t gdtr_base, idtr_base;
    uint32_t gdtr_limit, idtr_limit;
    uint32_t interruptibility; /* the VMCS's guest interruptibility state */
    uint32_t activity;         /* HV_ACTIVITY_*: active, or in HLT waiting for an interrupt */
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t kernel_gs_base, star, lstar, cstar, fmask, tsc_aux;
    /* An event to deliver at the next VM entry (an interrupt or exception
     * being injected, or one whose delivery a VM exit interrupted), in the
     * VM-entry interruption-information format (Intel SDM Vol. 3C, 25.8.3):
     * bit 31 valid, 11 error code, 10:8 type, 7:0 vector. */
    uint32_t pending_event, pending_error_code;
    uint32_t pending_instruction_len; /* software interrupts and exceptions */
    uint32_t reserved0;
    uint64_t pending_debug_exceptions;
    uint64_t tsc;  /* the guest's TSC when it was paused; the destination's goes on from it */
    uint64_t xcr0;
};

#define HV_ACTIVITY_ACTIVE 0u
#define HV_ACTIVITY_HLT 1u /* PC-platform guests only: woken by their next interrupt */
#define HV_ACTIVITY_WAIT_START 2u /* a vCPU other than 0 not started yet (HV_HC_START_VCPU) */

/* The x87/SSE/AVX/... state in XSAVE's standard (uncompacted) format (Intel
 * SDM Vol. 1, 13.4), or FXSAVE's 512 bytes on a CPU without XSAVE. */
#define HV_XSAVE_AREA_MAX 4096u

/* The state record: HV_HC_GET_STATE writes it, HV_HC_SET_STATE takes it. */
#define HV_STATE_MAGIC 0x54535648u /* "HVST" */
#define HV_STATE_VERSION 2u /* 1: no vcpu_index, vcpu_count (one vCPU per guest) */
#define HV_STATE_PC_PLATFORM 1u /* flags: platform is valid (a Linux guest's devices) */

struct hv_guest_state {
    uint32_t magic;   /* HV_STATE_MAGIC */
    uint32_t version; /* HV_STATE_VERSION */
    uint32_t size;    /* sizeof(struct hv_guest_state) */
    uint32_t flags;   /* HV_STATE_PC_PLATFORM */
    uint32_t xsave_bytes; /* the part of xsave[] in use: the CPU's area size */
    uint16_t vcpu_index;  /* whose record this is: one record per vCPU */
    uint16_t vcpu_count;  /* the guest's vCPUs: a destination must have as many */
    uint64_t platform_tsc0; /* the guest TSC at the platform's tick 0 */
    struct hv_vcpu_state vcpu;
    uint8_t xsave[HV_XSAVE_AREA_MAX];
    struct hv_platform_state platform;
};

#define HV_CONSOLE_WRITE_MAX 1024u

/* Counters of the calling guest, as HV_HC_STATS returns them. */
#define HV_STATS_EXIT_REASONS 66u /* basic exit reasons 0..64, then "beyond" */
struct hv_stats {
    uint64_t exits[HV_STATS_EXIT_REASONS]; /* VM exits by basic reason */
    uint64_t ept_violations;               /* that populated a page */
    uint64_t hypercalls;                   /* including this one */
    uint64_t hypercall_errors;             /* calls that returned an errno */
};

/* Errors, as negative values in RAX (Linux's numbers). */
#define HV_EPERM 1
#define HV_ENOENT 2
#define HV_EFAULT 14
#define HV_EAGAIN 11
#define HV_ENOMEM 12
#define HV_EBUSY 16
#define HV_EEXIST 17
#define HV_EINVAL 22
#define HV_ENOSPC 28
#define HV_ENOSYS 38

/* The guest's console: bytes written to the transmit register of a 16550 at
 * this port are printed on the hypervisor's console with the guest's name.
 * The line status register reads as "transmitter empty". */
#define HV_GUEST_CONSOLE_PORT 0x3f8u

/* The dirtier guest's progress, where a migrator can read it: one record per
 * vCPU that writes, vCPU i's at HV_DIRTIER_PROGRESS_GPA + i * sizeof (one
 * 64-byte cache line each), vCPU 0's first and where it always was. */
#define HV_DIRTIER_PROGRESS_GPA 0x2000u
#define HV_DIRTIER_MAGIC 0x54524944u /* "DIRT" */
struct hv_dirtier_progress {
    uint32_t magic;
    /* In vCPU 0's record: how many vCPUs write and publish a record (0 from
     * a writer that predates it: read as 1). 0 in the others'. */
    uint32_t vcpus;
    uint64_t passes; /* completed passes; a resumed copy continues from here */
    uint64_t pages;  /* written per pass */
    /* TSC cycles of the last pass and of all passes (dirty_log_perf_test's
     * "dirty memory time"), both written before `passes` moves on. */
    uint64_t last_pass_cycles, total_cycles;
    /* The guest's TSC when the last pass ended: a migrated copy's goes on
     * from the source's (the state record's vcpu.tsc). */
    uint64_t last_pass_end;
    /* Where this vCPU writes: page k of a pass is the 64-bit word at
     * base + k * stride * 4096, which holds pass << 32 | its GPA >> 12
     * (0 before the first pass); pages = 0 when the writer says nothing. */
    uint64_t base, stride;
};
#define HV_DIRTIER_PROGRESS_SIZE 64u

#endif /* HV_HYPERCALL_H */
