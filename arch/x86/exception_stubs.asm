; One entry stub per IDT vector. Each builds the same frame (vector, error
; code, general registers) so that one C++ handler can print it. Vectors that
; push no error code push a zero in its place (Intel SDM Vol. 3A, 6.13).

bits 64
extern exception_handler
global exception_stub_table

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

section .rodata
align 8
exception_stub_table:
%assign v 0
%rep 256
    dq stub_ %+ v
%assign v v+1
%endrep
