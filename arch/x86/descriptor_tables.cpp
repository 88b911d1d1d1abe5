#include "arch/x86/descriptor_tables.h"

#include "arch/x86/apic.h"
#include "kernel/limits.h"

extern "C" const uint64_t exception_stub_table[256];
extern "C" void interrupt_stub_kick();
extern "C" void interrupt_stub_spurious();
// exception_stubs.asm hard-codes the kick vector in its IRQ_STUB line.
static_assert(hv::x86::apic::kVectorKick == 0xf0, "update IRQ_STUB interrupt_stub_kick in exception_stubs.asm");

namespace hv::x86 {
namespace {

// 64-bit TSS (Intel SDM Vol. 3A, 8.7): only the IST pointers matter here, and
// the I/O bitmap base is put past the limit so that there is no bitmap.
struct __attribute__((packed)) Tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
static_assert(sizeof(Tss) == 104);

struct IdtGate {
    uint16_t offset_low, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_high, reserved;
};
static_assert(sizeof(IdtGate) == 16);

enum class Ist : uint8_t { None = 0, DoubleFault = 1, Nmi = 2, MachineCheck = 3 };
constexpr unsigned kIstStackSize = 8192;
constexpr uint8_t kInterruptGate = 0x8e;  // P=1, DPL=0, type 0xE

struct alignas(16) CpuTables {
    uint64_t gdt[5];  // null, code64, data, TSS (two slots)
    Tss tss;
    alignas(16) uint8_t ist_stacks[3][kIstStackSize];
};

CpuTables cpu_tables[kMaxCpus];
IdtGate idt[256];  // shared by every CPU: exceptions are fatal, the APIC's IPI vectors return
bool idt_built = false;

uint64_t tss_descriptor_low(uint64_t base, uint32_t limit) {
    return (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) /* P, type 9: available TSS */ |
           (uint64_t(limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
}

void build_idt() {
    for (unsigned v = 0; v < 256; ++v) {
        uint64_t off = exception_stub_table[v];
        if (v == apic::kVectorKick) off = uint64_t(&interrupt_stub_kick);
        if (v == apic::kVectorSpurious) off = uint64_t(&interrupt_stub_spurious);
        Ist ist = v == 8 ? Ist::DoubleFault : v == 2 ? Ist::Nmi : v == 18 ? Ist::MachineCheck : Ist::None;
        idt[v] = IdtGate{uint16_t(off), kKernelCode, uint8_t(ist), kInterruptGate, uint16_t(off >> 16),
                         uint32_t(off >> 32), 0};
    }
    idt_built = true;
}

}  // namespace

void load_descriptor_tables(unsigned cpu) {
    if (!idt_built) build_idt();
    CpuTables& t = cpu_tables[cpu];
    for (unsigned i = 0; i < 3; ++i) t.tss.ist[i] = uint64_t(&t.ist_stacks[i][kIstStackSize]);
    t.tss.iomap_base = sizeof(Tss);
    uint64_t base = uint64_t(&t.tss);
    t.gdt[0] = 0;
    t.gdt[1] = 0x00af9a000000ffffull;  // 64-bit code, DPL 0
    t.gdt[2] = 0x00cf92000000ffffull;  // data, DPL 0
    t.gdt[3] = tss_descriptor_low(base, sizeof(Tss) - 1);
    t.gdt[4] = base >> 32;

    DescriptorTableRegister gdtr{sizeof t.gdt - 1, uint64_t(t.gdt)};
    DescriptorTableRegister idtr{sizeof idt - 1, uint64_t(idt)};
    asm volatile(
        "lgdt %0\n"
        "pushq %1\n"
        "leaq 1f(%%rip), %%rax\n"
        "pushq %%rax\n"
        "lretq\n"
        "1:\n"
        "movw %2, %%ax\n"
        "movw %%ax, %%ds\n"
        "movw %%ax, %%es\n"
        "movw %%ax, %%ss\n"
        "ltr %w3\n"
        "lidt %4\n"
        :
        : "m"(gdtr), "i"(uint64_t(kKernelCode)), "i"(kKernelData), "r"(kTss), "m"(idtr)
        : "rax", "memory");
}

DescriptorTableRegister current_gdtr() {
    DescriptorTableRegister r;
    asm volatile("sgdt %0" : "=m"(r));
    return r;
}

DescriptorTableRegister current_idtr() {
    DescriptorTableRegister r;
    asm volatile("sidt %0" : "=m"(r));
    return r;
}

uint64_t tss_base(unsigned cpu) { return uint64_t(&cpu_tables[cpu].tss); }

}  // namespace hv::x86
