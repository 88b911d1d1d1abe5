; 32-bit Multiboot2 entry -> 64-bit long mode -> kernel_main(magic, info_phys).
;
; GRUB enters here in 32-bit protected mode, paging off, EAX = the Multiboot2
; magic, EBX = the physical address of the boot information (Multiboot2 spec,
; section 3.3). The boot page tables identity-map the first 4 GiB with 2 MiB
; pages: enough for the kernel image and for GRUB's boot information and
; modules, which it places below 4 GiB. The kernel replaces them with its own
; tables (kernel image + direct map, page 0 unmapped) as soon as it knows the
; memory map.

bits 32

CR0_PE          equ 1 << 0
CR0_PG          equ 1 << 31
CR4_PAE         equ 1 << 5
MSR_EFER        equ 0xc0000080
EFER_LME        equ 1 << 8
EFER_NXE        equ 1 << 11
PTE_P           equ 1 << 0
PTE_W           equ 1 << 1
PTE_PS          equ 1 << 7
COM1            equ 0x3f8

extern kernel_main
extern __bss_start
extern __bss_end
global boot_entry32
global boot_stack_top
global boot_pml4

section .boot.text
boot_entry32:
    cli
    cld
    mov esi, eax                    ; keep the magic and info across bss zeroing
    mov edi, ebx

    ; Zero .bss before anything lives in it (the page tables below do).
    mov ebx, edi
    mov edx, esi
    mov edi, __bss_start
    mov ecx, __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esi, edx
    mov edi, ebx

    mov esp, boot_stack_top

    ; Long mode present? CPUID.80000001h:EDX.LM[bit 29]
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz .no_long_mode

    ; PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages.
    mov eax, boot_pdpt
    or eax, PTE_P | PTE_W
    mov [boot_pml4], eax
    mov ecx, 0
.fill_pdpt:
    mov eax, ecx
    shl eax, 12
    add eax, boot_pd
    or eax, PTE_P | PTE_W
    mov [boot_pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jb .fill_pdpt

    mov ecx, 0                      ; 2048 entries x 2 MiB = 4 GiB
.fill_pd:
    mov eax, ecx
    shl eax, 21
    or eax, PTE_P | PTE_W | PTE_PS
    mov [boot_pd + ecx * 8], eax
    mov eax, ecx
    shr eax, 11                     ; high dword of (ecx << 21)
    mov [boot_pd + ecx * 8 + 4], eax
    inc ecx
    cmp ecx, 2048
    jb .fill_pd

    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, boot_pml4
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    or eax, CR0_PE | CR0_PG
    mov cr0, eax

    lgdt [boot_gdt_desc]
    jmp 0x08:boot_entry64

.no_long_mode:
    mov ebx, no_lm_msg
.print:
    mov al, [ebx]
    test al, al
    jz .halt
    mov dx, COM1
    out dx, al
    mov dx, 0xe9
    out dx, al
    inc ebx
    jmp .print
.halt:
    hlt
    jmp .halt

bits 64
boot_entry64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor ax, ax
    mov fs, ax
    mov gs, ax
    mov rsp, boot_stack_top
    xor ebp, ebp                    ; terminates backtraces
    mov eax, esi                    ; esi = magic, edi = info (kept since entry)
    mov esi, edi                    ; arg1: info physical address
    mov edi, eax                    ; arg0: magic
    call kernel_main
.hang:
    cli
    hlt
    jmp .hang

section .rodata
no_lm_msg: db "hv: this CPU has no long mode (CPUID.80000001h:EDX.LM = 0); halting", 13, 10, 0

align 8
boot_gdt:
    dq 0
    dq 0x00af9a000000ffff           ; 0x08: 64-bit code, DPL 0
    dq 0x00cf92000000ffff           ; 0x10: data, DPL 0
boot_gdt_end:
boot_gdt_desc:
    dw boot_gdt_end - boot_gdt - 1
    dd boot_gdt

section .bss
align 4096
boot_pml4:  resb 4096
boot_pdpt:  resb 4096
boot_pd:    resb 4096 * 4
boot_stack: resb 16384
boot_stack_top:
