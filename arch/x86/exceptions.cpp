// The fatal exception path: every CPU exception in the hypervisor is a bug, so
// it is printed in full (vector, error code, RIP, CR2, registers, backtrace)
// and the run ends failing. The local APIC's IPI vectors alone return: see
// interrupt_handler() below.
#include "arch/x86/apic.h"
#include "arch/x86/cpu.h"
#include "arch/x86/descriptor_tables.h"
#include "kernel/console.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "kernel/verdict.h"

namespace {

const char* const kVectorNames[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor segment overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved (15)", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD exception", "#VE virtualization exception", "#CP control protection", "reserved (22)",
    "reserved (23)", "reserved (24)", "reserved (25)", "reserved (26)", "reserved (27)",
    "#HV hypervisor injection", "#VC VMM communication", "#SX security exception", "reserved (31)"};

}  // namespace

extern "C" [[noreturn]] void exception_handler(const hv::x86::ExceptionFrame* f) {
    using hv::print;
    const char* name = f->vector < 32 ? kVectorNames[f->vector] : "unexpected interrupt";
    print("\nEXCEPTION: vector %lu (%s), error code 0x%lx\n", f->vector, name, f->error_code);
    print("  rip=%016lx cs=%04lx rflags=%016lx rsp=%016lx ss=%04lx\n", f->rip, f->cs, f->rflags, f->rsp, f->ss);
    print("  cr2=%016lx cr3=%016lx\n", hv::x86::read_cr2(), hv::x86::read_cr3());
    print("  rax=%016lx rbx=%016lx rcx=%016lx rdx=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
    print("  rsi=%016lx rdi=%016lx rbp=%016lx\n", f->rsi, f->rdi, f->rbp);
    print("  r8 =%016lx r9 =%016lx r10=%016lx r11=%016lx\n", f->r8, f->r9, f->r10, f->r11);
    print("  r12=%016lx r13=%016lx r14=%016lx r15=%016lx\n", f->r12, f->r13, f->r14, f->r15);
    hv::print_backtrace(f->rip, f->rbp);
    char reason[96];
    hv::format(reason, sizeof reason, "exception %s at rip=%016lx", name, f->rip);
    hv::end_run_fail(reason);
}

// Vectors the IDT sends here (exception_stubs.asm, IRQ_STUB): the kick IPI.
// Waking the CPU from HLT is most of its purpose; the count lets a sender see
// that it arrived.
extern "C" void interrupt_handler(uint64_t vector) {
    if (vector == hv::x86::apic::kVectorKick) hv::smp::on_kick();
    hv::x86::apic::eoi();
}
