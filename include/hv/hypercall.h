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
 * where a struct hv_guest_boot describes the guest. */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H

#include <stdint.h>

#define HV_ABI_VERSION 1u

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
};

/* Call numbers. */
enum hv_hypercall {
    HV_HC_VERSION = 0,        /* () -> HV_ABI_VERSION */
    HV_HC_EXIT = 1,           /* (status) -> does not return; 0 means success */
    HV_HC_MEMTEST_REPORT = 2, /* (gpa, bytes, mismatches) -> 0; the range the
                                 guest wrote and verified, for the EPT audit */
    HV_HC_CONSOLE_WRITE = 3,  /* (gpa, len) -> len; len <= HV_CONSOLE_WRITE_MAX */
    HV_HC_STATS = 4,          /* (gpa, size) -> bytes written: struct hv_stats */
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
#define HV_EINVAL 22
#define HV_ENOSYS 38

/* The guest's console: bytes written to the transmit register of a 16550 at
 * this port are printed on the hypervisor's console with the guest's name.
 * The line status register reads as "transmitter empty". */
#define HV_GUEST_CONSOLE_PORT 0x3f8u

/* The dirtier guest's progress, where a migrator can read it. */
#define HV_DIRTIER_PROGRESS_GPA 0x2000u
#define HV_DIRTIER_MAGIC 0x54524944u /* "DIRT" */
struct hv_dirtier_progress {
    uint32_t magic;
    uint32_t reserved;
    uint64_t passes; /* completed passes; a resumed copy continues from here */
};

#endif /* HV_HYPERCALL_H */
