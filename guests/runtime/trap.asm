; Exception entry for guests that provoke faults on purpose (guests/runtime/trap.h).
; One stub per vector 0-31 gives the common path one frame layout: vector,
; error code (0 where the CPU pushes none), then the CPU's RIP, CS, RFLAGS,
; RSP, SS. With a fixup armed, the common path resumes there and records the
; vector; without one, the fault was not expected and the guest ends.

bits 64

extern hv_trap_fixup
extern hv_trap_vector
extern hv_trap_unexpected
global hv_trap_stubs

%macro STUB 1
stub_%1:
; The vectors whose exceptions push an error code (Intel SDM Vol. 3A, 6.13).
%if %1 != 8 && %1 != 10 && %1 != 11 && %1 != 12 && %1 != 13 && %1 != 14 && %1 != 17 && %1 != 21 && %1 != 29 && %1 != 30
    push 0
%endif
    push %1
    jmp trap_common
%endmacro

section .text
%assign i 0
%rep 32
STUB i
%assign i i + 1
%endrep

trap_common:
    push rax
    mov rax, [rel hv_trap_fixup]
    test rax, rax
    jz .unexpected
    mov [rsp + 24], rax             ; the interrupted RIP: resume at the fixup
    mov qword [rel hv_trap_fixup], 0
    mov rax, [rsp + 8]
    mov [rel hv_trap_vector], rax
    pop rax
    add rsp, 16                     ; vector and error code
    iretq
.unexpected:
    mov rdi, [rsp + 8]              ; vector
    mov rsi, [rsp + 16]             ; error code
    mov rdx, [rsp + 24]             ; RIP
    and rsp, -16
    call hv_trap_unexpected         ; does not return

section .rodata
align 8
hv_trap_stubs:
%assign i 0
%rep 32
    dq stub_ %+ i
%assign i i + 1
%endrep
