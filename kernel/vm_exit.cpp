// VM-exit dispatch: every exit the hypervisor expects is handled here, and
// anything else stops the guest with the exit named. Guest input is hostile:
// every register a handler reads is checked before it is used.
#include "arch/x86/cpu.h"
#include "arch/x86/tsc.h"
#include "arch/x86/vmx/exit_qualification.h"
#include "arch/x86/vmx/instructions.h"
#include "include/hv/hypercall.h"
#include "kernel/cpuid_policy.h"
#include "kernel/hypercall.h"
#include "kernel/smp.h"
#include "kernel/vm.h"

namespace hv {
namespace {

using vmx::ExitReason;
using F = vmx::VmcsField;

uint64_t rd(F f) { return vmx::vmread(f); }

constexpr uint64_t kEptReach = 1ull << 48;  // what a 4-level EPT walk translates

// The 16550 registers a guest's console driver touches.
constexpr uint16_t kUartThr = HV_GUEST_CONSOLE_PORT, kUartLsr = HV_GUEST_CONSOLE_PORT + 5;
constexpr uint8_t kLsrThreTemt = 0x60;

// VM-entry interruption information (Intel SDM Vol. 3C, 25.8.3).
constexpr uint32_t kIntrValid = 1u << 31, kIntrDeliverErrorCode = 1u << 11, kIntrHardwareException = 3u << 8;
constexpr uint32_t kVectorUd = 6, kVectorGp = 13;

// Current privilege level: the DPL of SS (Intel SDM Vol. 3A, 5.5).
unsigned guest_cpl() { return unsigned(rd(F::GUEST_SS_AR_BYTES) >> 5) & 3; }

}  // namespace

void Vcpu::skip_instruction() {
    vmx::vmwrite(F::GUEST_RIP, rd(F::GUEST_RIP) + rd(F::VM_EXIT_INSTRUCTION_LEN));
    // The instruction after an STI or a MOV SS is done: its interrupt shadow
    // with it (else "sti; hlt" would leave the guest unable to take the
    // interrupt that wakes it).
    const uint64_t intr = rd(F::GUEST_INTERRUPTIBILITY_INFO);
    if (intr & 3) vmx::vmwrite(F::GUEST_INTERRUPTIBILITY_INFO, intr & ~uint64_t(3));
}

void Vcpu::inject_exception(uint32_t vector, bool error_code) {
    vmx::vmwrite(F::VM_ENTRY_INTR_INFO_FIELD,
                 kIntrValid | (error_code ? kIntrDeliverErrorCode : 0) | kIntrHardwareException | vector);
    if (error_code) vmx::vmwrite(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0);
}

void Vcpu::inject_gp() {
    vmx::vmwrite(F::VM_ENTRY_INTR_INFO_FIELD, kIntrValid | kIntrDeliverErrorCode | kIntrHardwareException | kVectorGp);
    vmx::vmwrite(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0);
}

Vcpu::Next Vcpu::handle_exit(uint32_t reason) {
    uint64_t rip = rd(F::GUEST_RIP);
    if (reason & vmx::kExitReasonEntryFailure) {
        uint32_t basic = reason & vmx::kExitReasonBasicMask;
        return stop(Outcome::EntryFailed, "VM entry failed: %s (exit qualification %lu)", vmx::exit_reason_name(basic),
                    rd(F::EXIT_QUALIFICATION));
    }
    switch (ExitReason(reason & vmx::kExitReasonBasicMask)) {
    case ExitReason::CPUID:
        return on_cpuid();
    case ExitReason::IO_INSTRUCTION:
        return on_io();
    case ExitReason::RDMSR:
        return on_msr(false);
    case ExitReason::WRMSR:
        return on_msr(true);
    case ExitReason::CR_ACCESS:
        return on_cr_access();
    case ExitReason::XSETBV:
        return on_xsetbv();
    case ExitReason::EPT_VIOLATION:
    case ExitReason::EPT_MISCONFIG: {
        // A misconfiguration is an MMIO SPTE (mm/mmio_gen.cpp): its generation decides.
        uint64_t t0 = x86::rdtsc();
        Next n = on_ept_fault(ExitReason(reason & vmx::kExitReasonBasicMask) == ExitReason::EPT_MISCONFIG);
        stats_.ept_fault_cycles += x86::rdtsc() - t0;
        return n;
    }
    case ExitReason::EXTERNAL_INTERRUPT:
        // A kick (TLB flush, pause, epoch): take it, then let the scheduler
        // serve whatever it asked for.
        smp::take_pending_interrupts();
        return Next::Yield;
    case ExitReason::VMCALL:
        return on_vmcall();
    case ExitReason::PML_FULL:
        return Next::Resume;  // run_slice() has drained the log; the write is retried
    case ExitReason::PREEMPTION_TIMER:
    case ExitReason::INTERRUPT_WINDOW:
        // The end of the slice (run_entries() yields), or the PC platform's
        // timer, or a window to inject in: run_entries() sees to each.
        return Next::Resume;
    case ExitReason::HLT:
        return on_hlt();
    case ExitReason::MWAIT:
    case ExitReason::MONITOR:
        inject_exception(kVectorUd, false);  // CPUID says there is no MONITOR/MWAIT
        return Next::Resume;
    case ExitReason::RDPMC:
        inject_exception(kVectorGp, true);  // no performance counters (CPUID leaf 0xa is 0)
        return Next::Resume;
    case ExitReason::WBINVD:
        skip_instruction();  // nothing to write back that the guest could see
        return Next::Resume;
    case ExitReason::TRIPLE_FAULT:
        return stop(Outcome::TripleFault, "triple fault at rip=0x%lx", rip);
    default:
        return stop(Outcome::Unexpected, "unexpected VM exit %s (reason %u) at rip=0x%lx",
                    vmx::exit_reason_name(reason & vmx::kExitReasonBasicMask), reason & vmx::kExitReasonBasicMask,
                    rip);
    }
}

Vcpu::Next Vcpu::on_cpuid() {
    uint32_t leaf = uint32_t(regs_.rax), sub = uint32_t(regs_.rcx);
    const x86::CpuidResult h = x86::cpuid(leaf, sub);
    const cpuid_policy::Regs r = cpuid_policy::guest_view(leaf, sub, {h.eax, h.ebx, h.ecx, h.edx},
                                                         {x86::tsc::hz(), rd(F::GUEST_CR4)});
    regs_.rax = r.eax, regs_.rbx = r.ebx, regs_.rcx = r.ecx, regs_.rdx = r.edx;
    skip_instruction();
    return Next::Resume;
}

Vcpu::Next Vcpu::on_io() {
    uint64_t q = rd(F::EXIT_QUALIFICATION);
    unsigned size = unsigned(q & vmx::io_qual::SIZE_MASK) + 1;
    uint16_t port = uint16_t(q >> vmx::io_qual::PORT_SHIFT);
    bool in = q & vmx::io_qual::IN;
    if (q & vmx::io_qual::STRING)
        return stop(Outcome::BadIo, "string I/O (%s port 0x%x) is not emulated", in ? "INS from" : "OUTS to", port);
    if (vm_.pc()) return platform_io(port, size, in);
    uint64_t mask = size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1;
    if (in) {
        // Nothing else is behind the guest's ports: they read as a floating
        // bus, as on a board with nothing plugged in.
        uint64_t v = port == kUartLsr ? kLsrThreTemt : port >= kUartThr && port < kUartThr + 8 ? 0 : ~0ull;
        // A 32-bit IN zero-extends into RAX; 8/16-bit ones leave the rest.
        regs_.rax = size == 4 ? (v & mask) : (regs_.rax & ~mask) | (v & mask);
    } else if (port == kUartThr) {
        const char c = char(regs_.rax & 0xff);
        vm_.console_write(&c, 1);
    }
    skip_instruction();
    return Next::Resume;
}

Vcpu::Next Vcpu::on_ept_fault(bool misconfig) {
    uint64_t gpa = rd(F::GUEST_PHYSICAL_ADDRESS);
    uint64_t q = misconfig ? 0 : rd(F::EXIT_QUALIFICATION);
    bool write = q & vmx::ept_violation::WRITE;
    const char* access = q & vmx::ept_violation::FETCH ? "fetch" : write ? "write" : "read";
    if (gpa >= kEptReach)
        return stop(Outcome::OutsideSlot, "%s at GPA 0x%lx beyond the EPT's reach, rip=0x%lx", access, gpa,
                    rd(F::GUEST_RIP));
    mm::Mmu& mmu = vm_.mmu();
    mm::Fault f = misconfig ? mmu.handle_ept_misconfig(gpa >> 12) : mmu.handle_ept_violation(gpa >> 12, write);
    switch (f) {
    case mm::Fault::kFixed:
    case mm::Fault::kFixedFast:
    case mm::Fault::kSpurious:
        ++stats_.ept_violations;
        return Next::Resume;
    case mm::Fault::kMmio:
        if (MmioRegion* r = vm_.mmio_region(gpa)) return emulate_mmio(gpa, *r);
        return stop(Outcome::OutsideSlot, "%s at GPA 0x%lx outside every memory slot, rip=0x%lx", access, gpa,
                    rd(F::GUEST_RIP));
    case mm::Fault::kReadOnlySlot:
        return stop(Outcome::OutsideSlot, "%s at GPA 0x%lx in a read-only memory slot, rip=0x%lx", access, gpa,
                    rd(F::GUEST_RIP));
    case mm::Fault::kNoMemory:
        break;
    }
    return stop(Outcome::Unexpected, "out of memory for EPT tables at GPA 0x%lx", gpa);
}

Vcpu::Next Vcpu::emulate_mmio(uint64_t gpa, MmioRegion& r) {
    // The instruction, read once into the hypervisor: another vCPU of the
    // guest could rewrite it while we decode.
    uint64_t rip = rd(F::GUEST_RIP);
    uint8_t bytes[15] = {};
    unsigned n = fetch_insn(
        rip, bytes, sizeof bytes, [this](uint64_t la, uint64_t& gpa) { return translate(la, gpa); },
        [this](uint64_t gpa, void* dst, uint64_t len) { return vm_.read_guest(gpa, dst, len); });
    MmioInsn insn;
    if (!decode_mmio_insn(bytes, n, insn) || insn.reg == 4)
        return stop(Outcome::BadIo, "MMIO at GPA 0x%lx: instruction %02x %02x %02x %02x at rip=0x%lx not emulated",
                    gpa, bytes[0], bytes[1], bytes[2], bytes[3], rip);
    uint64_t& reg = *gpr(regs_, insn.reg);
    uint64_t offset = gpa - r.gpa;
    {
        // The device's registers and access count are the guest's, shared by its vCPUs.
        LockGuard g(vm_.mmio_lock());
        if (insn.store)
            r.write(offset, insn.size == 4 ? uint32_t(reg) : reg, insn.size);
        else
            reg = insn.size == 4 ? uint32_t(r.read(offset)) : r.read(offset);  // 32-bit loads zero-extend
    }
    ++stats_.mmio_emulated;
    vmx::vmwrite(F::GUEST_RIP, rip + insn.length);
    return Next::Resume;
}

Vcpu::Next Vcpu::on_vmcall() {
    skip_instruction();
    ++stats_.hypercalls;
    HypercallResult r{-int64_t(HV_EPERM), false, false};
    // Hypercalls are for the guest's kernel, not for its user programs.
    if (guest_cpl() == 0) r = dispatch_hypercall(vm_, {regs_.rax, regs_.rbx, regs_.rcx, regs_.rdx, regs_.rsi});
    if (r.stop) return Next::Stop;
    if (r.value < 0) ++stats_.hypercall_errors;
    regs_.rax = uint64_t(r.value);
    return r.yield ? Next::Yield : Next::Resume;
}

}  // namespace hv
