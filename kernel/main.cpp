// The hypervisor's boot path on the bootstrap processor: console, descriptor
// tables, boot information, frames, address space, VMX; then each guest of the
// command line in turn, audited after it stops; then the verdict.
#include <stdarg.h>

#include "arch/x86/cpu.h"
#include "arch/x86/descriptor_tables.h"
#include "arch/x86/paging.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/guests.h"
#include "kernel/multiboot2.h"
#include "kernel/mmu_platform.h"
#include "kernel/percpu.h"
#include "kernel/scheduler.h"
#include "kernel/tlb.h"
#include "kernel/smp.h"
#include "kernel/vm_table.h"
#include "kernel/symbols.h"
#include "kernel/verdict.h"
#include "kernel/vm.h"
#include "mm/frame_allocator.h"

extern "C" char __kernel_start[], __kernel_end[];

namespace hv {
namespace {

// The boot page tables identity-map 4 GiB, and page-table frames must come
// from there until the kernel's own tables are live: the allocator tracks RAM
// below this bound and says how much it leaves out.
constexpr uint64_t kMaxPhys = 4ull << 30;
constexpr uint64_t kLowMemory = 1ull << 20;  // BIOS data, EBDA, option ROMs

uint64_t frame_storage[mm::FrameAllocator::storage_words_for(kMaxPhys)];
mm::FrameAllocator frames;
mb2::BootInfo boot;
cmdline::Config config;
vmx::Controls controls;

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail_boot(const char* fmt, ...) {
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vformat(why, sizeof why, fmt, ap);
    va_end(ap);
    print("hv: %s\n", why);
    end_run_fail(why);
}

bool in_available_ram(uint64_t base, uint64_t end) {
    for (size_t i = 0; i < boot.region_count; ++i) {
        const mb2::MemoryRegion& r = boot.regions[i];
        if (r.type == mb2::MemoryType::Available && base >= r.base && end <= r.base + r.length) return true;
    }
    return false;
}

void parse_boot_info(uint32_t magic, const void* info) {
    // total_size is the first word; the parser checks it against max_size.
    size_t size = info ? *static_cast<const uint32_t*>(info) : 0;
    mb2::ParseError e = mb2::parse(magic, info, size, boot);
    if (!e.ok()) fail_boot("malformed Multiboot2 boot information: %s (offset %lu)", e.what, e.offset);
}

void init_frames(uint64_t info_pa) {
    if (!frames.init(frame_storage, sizeof frame_storage / sizeof *frame_storage, kMaxPhys))
        fail_boot("frame allocator: storage too small");
    for (size_t i = 0; i < boot.region_count; ++i) {
        const mb2::MemoryRegion& r = boot.regions[i];
        if (r.type == mb2::MemoryType::Available) frames.add_free({r.base, r.base + r.length});
    }
    frames.reserve({0, kLowMemory});
    frames.reserve({uint64_t(__kernel_start), uint64_t(__kernel_end)});
    frames.reserve({info_pa, info_pa + boot.total_size});
    if (!in_available_ram(info_pa, info_pa + boot.total_size))
        fail_boot("boot information at 0x%lx lies outside available RAM", info_pa);
    for (size_t i = 0; i < boot.module_count; ++i) {
        const mb2::Module& m = boot.modules[i];
        frames.reserve({m.start, m.end});
        if (!in_available_ram(m.start, m.end)) fail_boot("module at 0x%lx lies outside available RAM", m.start);
    }
    print("hv: %zu MiB of RAM usable, %zu MiB free", frames.usable_frames() >> 8, frames.free_frames() >> 8);
    if (frames.ignored_bytes()) print(", %lu MiB above 4 GiB left unused", frames.ignored_bytes() >> 20);
    print("\n");
}

// The end of the RAM the frame allocator tracks.
uint64_t max_phys() {
    uint64_t end = 0;
    for (size_t i = 0; i < boot.region_count; ++i) {
        const mb2::MemoryRegion& r = boot.regions[i];
        if (r.type == mb2::MemoryType::Available && r.base + r.length > end) end = r.base + r.length;
    }
    return end < kMaxPhys ? end : kMaxPhys;
}


// Reads through a null pointer. Not inlined and not a leaf (leaf functions
// get no frame pointer), so the backtrace shows it called from kernel_main.
[[gnu::noinline]] void self_test_null_deref() {
    volatile uint64_t* null = nullptr;
    asm volatile("" : "+r"(null));  // the compiler may not assume the trap
    print("hv: selftest: read 0x%lx at address 0\n", *null);
}

}  // namespace
}  // namespace hv

extern "C" [[noreturn]] void kernel_main(uint32_t magic, uint32_t info_pa) {
    using namespace hv;
    console_init();
    print("\nhv: microhypervisor starting\n");
    x86::load_descriptor_tables(0);

    // Until the kernel's tables are live, the boot tables identity-map 4 GiB.
    parse_boot_info(magic, reinterpret_cast<const void*>(uintptr_t(info_pa)));
    char err[160];
    if (!cmdline::parse(boot.cmdline, config, err, sizeof err)) fail_boot("kernel command line: %s", err);
    set_log_level(config.log_level);
    print("hv: command line '%s', %zu modules\n", boot.cmdline, boot.module_count);
    init_frames(info_pa);
    if (!x86::build_kernel_address_space(boot, frames)) fail_boot("could not build the kernel address space");
    // Low memory is unmapped now; read the boot information through the direct map.
    parse_boot_info(magic, x86::phys_to_virt(info_pa));
    if (const mb2::Module* sym = mb2::find_module(boot, "hv.sym"))
        symbols::init(x86::phys_to_virt<const char>(sym->start), sym->end - sym->start);
    else
        HV_LOG_WARN("no hv.sym module: backtraces will show addresses only\n");

    smp::start(boot, frames);
    if (config.self_test == cmdline::SelfTest::Smp) smp::self_test(frames);  // ends the run
    if (config.self_test == cmdline::SelfTest::HungCpu) tlb::self_test_hung_cpu();  // ends the run

    if (config.self_test == cmdline::SelfTest::NullDeref) {
        print("hv: selftest: reading through a null pointer\n");
        self_test_null_deref();
        fail_boot("selftest: a null-pointer read did not fault");
    }

    char why[200];
    if (!vmx::enable(frames, controls, why, sizeof why)) {
        print("%s\n", why);
        end_run_skip(why);
    }
    print("hv: VMX on (VMCS revision %u, EPT caps 0x%lx)\n", controls.vmcs_revision, controls.ept_caps);
    if (!smp::check_vmx_controls(controls)) fail_boot("the CPUs disagree on their VMX capabilities");
    if (config.mmu_switches.pml && !controls.pml)
        fail_boot("dirty_log=pml: this CPU has no page-modification logging with EPT A/D bits "
                  "(EPT caps 0x%lx); use dirty_log=wp", controls.ept_caps);
    tlb::init(controls);
    if (!mmu_platform::init(frames, max_phys(), why, sizeof why)) fail_boot("MMU: %s", why);
    // The default migration puts the migrator on CPU 1; on one CPU it shares
    // CPU 0 with the source, time-sliced.
    if (config.default_scenario && smp::cpu_count() == 1) config.guests[2].cpu = 0;
    guests::init(boot, controls, config.mmu_switches);
    guests::run(config, frames);
    end_run();
}
