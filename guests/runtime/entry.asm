; Guest entry: the hypervisor starts us in 32-bit protected mode, paging off,
; EBX = the hv_guest_boot address. We zero .bss, identity-map the first 4 GiB
; with 2 MiB pages (a control guest maps other guests' memory above its own),
; enter long mode and call guest_start(boot).
;
; Another vCPU (HV_HC_START_VCPU) enters at _ap_start in the same mode, with
; ESI = its index and EDI = the runtime's start block for it (ap_start_block
; in runtime.cpp: its stack top, at offset 0). It takes the boot vCPU's page
; tables, which exist by then (only guest code running on them starts APs),
; and calls guest_ap_start(index, block).

bits 32

CR0_PG      equ 1 << 31
CR4_PAE     equ 1 << 5
MSR_EFER    equ 0xc0000080
EFER_LME    equ 1 << 8
PTE_PW      equ 0x3                 ; present, writable
PDE_PS_PW   equ 0x83                ; present, writable, 2 MiB page

extern guest_start
extern guest_ap_start
extern __bss_start
extern __bss_end
global _start
global _ap_start
global guest_stack_top

; PAE, the page tables at pml4, EFER.LME, paging on, our GDT. Clobbers EAX, ECX, EDX.
%macro ENTER_PAGING 0
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, pml4
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax
    lgdt [gdt_desc]
%endmacro

; Every data segment register to our flat data selector.
%macro DATA_SEGMENTS 0
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
%endmacro

section .text.entry
_start:
    mov esi, ebx                    ; keep the boot pointer across rep stos
    mov edi, __bss_start
    mov ecx, __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd
    mov esp, guest_stack_top

    mov eax, pdpt
    or eax, PTE_PW
    mov [pml4], eax
    xor ecx, ecx
.fill_pdpt:                         ; PDPT[0..3] -> the four page directories
    mov eax, ecx
    shl eax, 12
    add eax, pd
    or eax, PTE_PW
    mov [pdpt + ecx * 8], eax
    inc ecx
    cmp ecx, 4
    jb .fill_pdpt
    xor ecx, ecx
.fill:                              ; 2048 x 2 MiB = 4 GiB
    mov eax, ecx
    shl eax, 21
    or eax, PDE_PS_PW
    mov [pd + ecx * 8], eax
    mov eax, ecx
    shr eax, 11                     ; the high dword of ecx << 21
    mov [pd + ecx * 8 + 4], eax
    inc ecx
    cmp ecx, 2048
    jb .fill

    ENTER_PAGING
    jmp 0x08:long_mode

_ap_start:                          ; no stack until long mode: none is ours yet
    mov ebp, esi                    ; index and block survive the RDMSR/WRMSR
    ENTER_PAGING
    jmp 0x08:ap_long_mode

bits 64
long_mode:
    DATA_SEGMENTS
    mov rsp, guest_stack_top
    xor ebp, ebp
    mov edi, esi                    ; arg0: const hv_guest_boot*
    call guest_start
.hang:
    hlt
    jmp .hang

ap_long_mode:
    DATA_SEGMENTS
    mov esi, edi                    ; arg1: the start block (zero-extended)
    mov rsp, [rsi]                  ; its stack top
    mov edi, ebp                    ; arg0: the index
    xor ebp, ebp
    call guest_ap_start             ; does not return

section .rodata
align 8
gdt:
    dq 0
    dq 0x00af9a000000ffff           ; 0x08: 64-bit code
    dq 0x00cf92000000ffff           ; 0x10: data
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt

section .bss
align 4096
pml4: resb 4096
pdpt: resb 4096
pd:   resb 4096 * 4
guest_stack: resb 16384
guest_stack_top:
