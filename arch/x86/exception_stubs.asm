; One entry stub per IDT vector. Each builds the same frame (vector, error
; code, general registers) so that one C++ handler can print it. Vectors that
; push no error code push a zero in its place (Intel SDM Vol. 3A, 6.13).

bits 64
extern exception_handler
extern interrupt_handler
global exception_stub_table
global interrupt_stub_kick
global interrupt_stub_spurious

%macro STUB 1
align 16
stub_%1:
%if (%1 = 8) || (%1 >= 10 && %1 <= 14) || (%1 = 17) || (%1 = 21) || (%1 = 29) || (%1 = 30)
%else
    push 0
%endif
    push %1
    jmp common_stub
%endmacro

section .text
%assign v 0
%rep 256
    STUB v
%assign v v+1
%endrep

common_stub:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp                    ; ExceptionFrame*
    cld
    and rsp, -16                    ; the ABI's call alignment
    call exception_handler          ; fatal: does not return
.hang:
    cli
    hlt
    jmp .hang

; Interrupts that return (the local APIC's IPI vectors): save what the C
; calling convention lets a callee clobber, call interrupt_handler(vector),
; restore and IRETQ. The kernel is built with -mgeneral-regs-only, so there
; is no SSE state to save. Vector numbers: arch/x86/apic.h.
%macro IRQ_STUB 2
align 16
%1:
    push rbp
    mov rbp, rsp                    ; a frame for backtraces taken inside
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    cld
    mov edi, %2
    and rsp, -16                    ; the ABI's call alignment
    call interrupt_handler
    lea rsp, [rbp - 9 * 8]
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    pop rbp
    iretq
%endmacro

IRQ_STUB interrupt_stub_kick, 0xf0

; A spurious interrupt needs no EOI (Intel SDM Vol. 3A, 11.9): just return.
align 16
interrupt_stub_spurious:
    iretq

section .rodata
align 8
exception_stub_table:
%assign v 0
%rep 256
    dq stub_ %+ v
%assign v v+1
%endrep
