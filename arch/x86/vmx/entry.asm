; VM entry and exit. vmx_run() enters the guest whose registers are in *regs and
; returns when the guest exits, as if VMLAUNCH/VMRESUME were a call:
;
;   extern "C" uint64_t vmx_run(GuestRegs* regs, uint64_t launched);
;     returns 0 after a VM exit (the guest's registers are back in *regs),
;             1 on VMfailValid (read VM_INSTRUCTION_ERROR), 2 on VMfailInvalid.
;
; HOST_RSP is written on every entry to point at the saved regs pointer, and
; HOST_RIP is vmx_exit_entry, so an exit resumes in this frame with every
; callee-saved register recoverable. RFLAGS after an exit is 0x2 (IF clear).

bits 64

VMCS_HOST_RSP equ 0x6c14

; Offsets in GuestRegs (kernel/guest_regs.h).
R_RAX equ 0
R_RBX equ 8
R_RCX equ 16
R_RDX equ 24
R_RSI equ 32
R_RDI equ 40
R_RBP equ 48
R_R8  equ 56
R_R9  equ 64
R_R10 equ 72
R_R11 equ 80
R_R12 equ 88
R_R13 equ 96
R_R14 equ 104
R_R15 equ 112

global vmx_run
global vmx_exit_entry

section .text
vmx_run:
    push rbp
    mov rbp, rsp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi                        ; regs: the first thing the exit path reads
    mov rax, VMCS_HOST_RSP
    vmwrite rax, rsp

    cmp rsi, 0                      ; flags survive the MOVs below
    mov rax, [rdi + R_RAX]
    mov rbx, [rdi + R_RBX]
    mov rcx, [rdi + R_RCX]
    mov rdx, [rdi + R_RDX]
    mov rbp, [rdi + R_RBP]
    mov r8,  [rdi + R_R8]
    mov r9,  [rdi + R_R9]
    mov r10, [rdi + R_R10]
    mov r11, [rdi + R_R11]
    mov r12, [rdi + R_R12]
    mov r13, [rdi + R_R13]
    mov r14, [rdi + R_R14]
    mov r15, [rdi + R_R15]
    mov rsi, [rdi + R_RSI]
    mov rdi, [rdi + R_RDI]
    jne .resume
    vmlaunch
    jmp .failed
.resume:
    vmresume
.failed:                            ; CF: VMfailInvalid, ZF: VMfailValid
    mov eax, 1
    mov edx, 2
    cmovc eax, edx
    add rsp, 8
    jmp vmx_return

vmx_exit_entry:
    push rdi                        ; the guest's rdi; [rsp + 8] is regs
    mov rdi, [rsp + 8]
    mov [rdi + R_RAX], rax
    mov [rdi + R_RBX], rbx
    mov [rdi + R_RCX], rcx
    mov [rdi + R_RDX], rdx
    mov [rdi + R_RSI], rsi
    mov [rdi + R_RBP], rbp
    mov [rdi + R_R8],  r8
    mov [rdi + R_R9],  r9
    mov [rdi + R_R10], r10
    mov [rdi + R_R11], r11
    mov [rdi + R_R12], r12
    mov [rdi + R_R13], r13
    mov [rdi + R_R14], r14
    mov [rdi + R_R15], r15
    pop rax
    mov [rdi + R_RDI], rax
    add rsp, 8
    xor eax, eax
vmx_return:
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
