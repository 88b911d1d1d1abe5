; The application processors' first code: real mode -> protected mode -> long
; mode on the kernel's page tables -> ap_entry(cpu) on the CPU's own stack.
;
; This blob is never run where it is linked: kernel/smp.cpp copies it to the
; physical page kApTrampolinePhys (below 1 MiB, so that a STARTUP IPI can name
; it: the SIPI vector is the page number, and the AP starts at CS = page << 8,
; IP = 0; Intel SDM Vol. 3A, 9.4.4). Every address it uses is therefore
; computed as TRAMP + (label - start), which NASM folds to a constant.
; kernel/smp.cpp fills the parameter block at its end before each SIPI; the
; AP reads it before it says "started", so one block serves every AP in turn.

TRAMP           equ 0x8000          ; kernel/smp.cpp: kApTrampolinePhys
%define ABS(x)  (TRAMP + (x) - ap_trampoline_start)

CR0_PE          equ 1 << 0
CR0_PG          equ 1 << 31
CR4_PAE         equ 1 << 5
MSR_EFER        equ 0xc0000080
EFER_LME        equ 1 << 8
EFER_NXE        equ 1 << 11         ; the kernel's tables use NX: required before CR3 is live

SEL_CODE32      equ 0x08
SEL_DATA        equ 0x10
SEL_CODE64      equ 0x18

global ap_trampoline_start
global ap_trampoline_end
global ap_trampoline_params

section .rodata
align 16
bits 16
ap_trampoline_start:
    cli
    cld
    mov ax, cs                      ; CS = TRAMP >> 4 after the SIPI
    mov ds, ax
    lgdt [gdt_desc - ap_trampoline_start]
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp dword SEL_CODE32:ABS(protected_mode)

bits 32
protected_mode:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, [ABS(param_cr3)]       ; the kernel's PML4, below 4 GiB
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME | EFER_NXE
    wrmsr
    mov eax, cr0
    or eax, CR0_PE | CR0_PG
    mov cr0, eax                    ; long mode, compatibility submode
    jmp SEL_CODE64:ABS(long_mode)

bits 64
long_mode:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov rsp, [ABS(param_stack)]
    mov rdi, [ABS(param_cpu)]
    mov rax, [ABS(param_entry)]
    xor ebp, ebp                    ; terminates backtraces
    call rax                        ; ap_entry(cpu): does not return
.hang:
    cli
    hlt
    jmp .hang

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff           ; 0x08: 32-bit code
    dq 0x00cf92000000ffff           ; 0x10: data
    dq 0x00af9a000000ffff           ; 0x18: 64-bit code
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd ABS(gdt)

align 8
ap_trampoline_params:               ; kernel/smp.cpp: struct TrampolineParams
param_cr3:   dq 0
param_stack: dq 0
param_entry: dq 0
param_cpu:   dq 0
ap_trampoline_end:
