// VM-exit dispatch: every exit the hypervisor expects is handled here, and
// anything else stops the guest with the exit named. Guest input is hostile:
// every register a handler reads is checked before it is used.
#include "arch/x86/cpu.h"
#include "arch/x86/vmx/instructions.h"
#include "include/hv/hypercall.h"
#include "kernel/hypercall.h"
#include "kernel/vm.h"

namespace hv {
namespace {

using vmx::ExitReason;
using F = vmx::VmcsField;

uint64_t rd(F f) { return vmx::vmread(f); }

constexpr uint32_t kIa32Efer = 0xc0000080;
constexpr uint64_t kEferGuestWritable = x86::efer::SCE | x86::efer::LME | x86::efer::NXE;

// CPUID: hide VMX from guests (no nesting) and say that a hypervisor is there.
constexpr uint32_t kCpuid1EcxVmx = 1u << 5, kCpuid1EcxHypervisor = 1u << 31;
constexpr uint32_t kCpuidHypervisorLeaf = 0x40000000;

// I/O exit qualification (Intel SDM Vol. 3C, Table 28-5).
namespace io_qual {
constexpr uint64_t SIZE_MASK = 7, IN = 1u << 3, STRING = 1u << 4;
constexpr unsigned PORT_SHIFT = 16;
}  // namespace io_qual

// The 16550 registers a guest's console driver touches.
constexpr uint16_t kUartThr = HV_GUEST_CONSOLE_PORT, kUartLsr = HV_GUEST_CONSOLE_PORT + 5;
constexpr uint8_t kLsrThreTemt = 0x60;

// VM-entry interruption information (Intel SDM Vol. 3C, 25.8.3).
constexpr uint32_t kIntrValid = 1u << 31, kIntrDeliverErrorCode = 1u << 11, kIntrHardwareException = 3u << 8;
constexpr uint32_t kVectorGp = 13;

// Current privilege level: the DPL of SS (Intel SDM Vol. 3A, 5.5).
unsigned guest_cpl() { return unsigned(rd(F::GUEST_SS_AR_BYTES) >> 5) & 3; }

}  // namespace

void Vm::skip_instruction() {
    vmx::vmwrite(F::GUEST_RIP, rd(F::GUEST_RIP) + rd(F::VM_EXIT_INSTRUCTION_LEN));
}

void Vm::inject_gp() {
    vmx::vmwrite(F::VM_ENTRY_INTR_INFO_FIELD, kIntrValid | kIntrDeliverErrorCode | kIntrHardwareException | kVectorGp);
    vmx::vmwrite(F::VM_ENTRY_EXCEPTION_ERROR_CODE, 0);
}

Vm::Next Vm::handle_exit(uint32_t reason) {
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
    case ExitReason::EPT_VIOLATION:
        return on_ept_violation();
    case ExitReason::VMCALL:
        return on_vmcall();
    case ExitReason::PREEMPTION_TIMER:
        return Next::Yield;  // its time slice is over
    case ExitReason::HLT:
        return stop(Outcome::Halted, "HLT at rip=0x%lx with no interrupt source to wake it", rip);
    case ExitReason::TRIPLE_FAULT:
        return stop(Outcome::TripleFault, "triple fault at rip=0x%lx", rip);
    case ExitReason::EPT_MISCONFIG:
        // Only the hypervisor writes EPT entries: this is our bug, not the guest's.
        return stop(Outcome::Unexpected, "EPT misconfiguration at GPA 0x%lx (hypervisor bug)",
                    rd(F::GUEST_PHYSICAL_ADDRESS));
    default:
        return stop(Outcome::Unexpected, "unexpected VM exit %s (reason %u) at rip=0x%lx",
                    vmx::exit_reason_name(reason & vmx::kExitReasonBasicMask), reason & vmx::kExitReasonBasicMask,
                    rip);
    }
}

Vm::Next Vm::on_cpuid() {
    uint32_t leaf = uint32_t(regs_.rax), sub = uint32_t(regs_.rcx);
    x86::CpuidResult r{};
    if (leaf == kCpuidHypervisorLeaf) {
        // Highest hypervisor leaf, then the vendor signature "MicroHVisor\0".
        r = {kCpuidHypervisorLeaf, 0x7263694d, 0x5669486f, 0x726f7369};
    } else {
        r = x86::cpuid(leaf, sub);
        if (leaf == 1) r.ecx = (r.ecx & ~kCpuid1EcxVmx) | kCpuid1EcxHypervisor;
    }
    regs_.rax = r.eax, regs_.rbx = r.ebx, regs_.rcx = r.ecx, regs_.rdx = r.edx;
    skip_instruction();
    return Next::Resume;
}

Vm::Next Vm::on_io() {
    uint64_t q = rd(F::EXIT_QUALIFICATION);
    unsigned size = unsigned(q & io_qual::SIZE_MASK) + 1;
    uint16_t port = uint16_t(q >> io_qual::PORT_SHIFT);
    bool in = q & io_qual::IN;
    if (q & io_qual::STRING)
        return stop(Outcome::BadIo, "string I/O (%s port 0x%x) is not emulated", in ? "INS from" : "OUTS to", port);
    uint64_t mask = size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1;
    if (in) {
        // Nothing else is behind the guest's ports: they read as a floating
        // bus, as on a board with nothing plugged in.
        uint64_t v = port == kUartLsr ? kLsrThreTemt : port >= kUartThr && port < kUartThr + 8 ? 0 : ~0ull;
        // A 32-bit IN zero-extends into RAX; 8/16-bit ones leave the rest.
        regs_.rax = size == 4 ? (v & mask) : (regs_.rax & ~mask) | (v & mask);
    } else if (port == kUartThr) {
        console_.put(char(regs_.rax & 0xff));
    }
    skip_instruction();
    return Next::Resume;
}

Vm::Next Vm::on_msr(bool write) {
    uint32_t msr = uint32_t(regs_.rcx);
    if (msr != kIa32Efer) {
        inject_gp();  // every other MSR is absent for guests
        return Next::Resume;
    }
    uint64_t efer = rd(F::GUEST_IA32_EFER);
    if (!write) {
        regs_.rax = uint32_t(efer);
        regs_.rdx = efer >> 32;
        skip_instruction();
        return Next::Resume;
    }
    uint64_t v = (regs_.rdx << 32) | uint32_t(regs_.rax);
    // LMA is the CPU's to set (writes to it are ignored); LME may not change
    // while paging is on; every other bit is reserved (Intel SDM Vol. 4, C0000080H).
    uint64_t requested = v & ~x86::efer::LMA;
    bool paging = rd(F::GUEST_CR0) & x86::cr0::PG;
    if ((requested & ~kEferGuestWritable) || (paging && ((requested ^ efer) & x86::efer::LME))) {
        inject_gp();
        return Next::Resume;
    }
    vmx::vmwrite(F::GUEST_IA32_EFER, requested | (efer & x86::efer::LMA));
    skip_instruction();
    return Next::Resume;
}

Vm::Next Vm::on_ept_violation() {
    uint64_t gpa = rd(F::GUEST_PHYSICAL_ADDRESS);
    uint64_t q = rd(F::EXIT_QUALIFICATION);
    const char* access = q & vmx::ept_violation::FETCH ? "fetch" : q & vmx::ept_violation::WRITE ? "write" : "read";
    uint64_t page = gpa & ~0xfffull, hpa;
    if (!expected_backing(page, hpa))
        return stop(Outcome::OutsideSlot, "%s at GPA 0x%lx outside every memory slot (slot: [0, 0x%lx)), rip=0x%lx",
                    access, gpa, mem_bytes_, rd(F::GUEST_RIP));
    uint64_t rwx = vmx::ept::RWX;
    bool window = gpa >= mem_bytes_;
    if (window) {
        const Window* w = nullptr;
        for (size_t i = 0; i < window_count_; ++i)
            if (gpa >= windows_[i].gpa && gpa - windows_[i].gpa < windows_[i].target->mem_bytes()) w = &windows_[i];
        // Another guest's memory is data: never executable here.
        rwx = w->writable ? vmx::ept::READ | vmx::ept::WRITE : vmx::ept::READ;
        // Qualification bits 0-2 (read, write, fetch) line up with EPT's R, W, X.
        if (q & (vmx::ept_violation::WRITE | vmx::ept_violation::FETCH) & ~rwx)
            return stop(Outcome::OutsideSlot, "%s at GPA 0x%lx in %s's %s window, rip=0x%lx", access, gpa,
                        w->target->name(), w->writable ? "writable" : "read-only", rd(F::GUEST_RIP));
    }
    // Leaves are created with every permission their region allows, so a
    // violation on a mapped page means a stale translation: a hypervisor bug,
    // never resumed (it would fault again forever).
    if (q & (vmx::ept_violation::READABLE | vmx::ept_violation::WRITABLE | vmx::ept_violation::EXECUTABLE))
        return stop(Outcome::Unexpected, "EPT violation on mapped GPA 0x%lx (qualification 0x%lx): stale translation",
                    gpa, q);
    if (!ept_.map_4k(page, hpa, rwx))
        return stop(Outcome::Unexpected, "out of frames for EPT tables at GPA 0x%lx", gpa);
    ++stats_.ept_violations;
    return Next::Resume;
}

Vm::Next Vm::on_vmcall() {
    skip_instruction();
    ++stats_.hypercalls;
    HypercallResult r{-int64_t(HV_EPERM), false, false};
    // Hypercalls are for the guest's kernel, not for its user programs.
    if (guest_cpl() == 0) r = dispatch_hypercall(*this, {regs_.rax, regs_.rbx, regs_.rcx, regs_.rdx, regs_.rsi});
    if (r.stop) return Next::Stop;
    if (r.value < 0) ++stats_.hypercall_errors;
    regs_.rax = uint64_t(r.value);
    return r.yield ? Next::Yield : Next::Resume;
}

}  // namespace hv
