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
#include "kernel/memory_check.h"
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
#include "mm/phys_ranges.h"

extern "C" char __kernel_start[], __kernel_end[];

namespace hv {
namespace {

constexpr uint64_t k4G = 4ull << 30;
constexpr uint64_t kLowMemory = 1ull << 20;  // BIOS data, EBDA, option ROMs

mm::FrameAllocator frames;
// The usable RAM of the memory map (sorted, disjoint, whole frames), all of
// it tracked by the frame allocator and mapped by the direct map.
mm::PhysRange ram[mb2::kMaxMemoryRegions];
size_t ram_count;
// The allocator's bitmaps: sized for the RAM found, so carved out of it.
uint64_t frame_storage_pa;
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
    for (size_t i = 0; i < ram_count; ++i)
        if (base >= ram[i].base && end <= ram[i].end) return true;
    return false;
}

// The memory map's usable RAM: its Available entries, less whatever another
// entry calls reserved, less what lies beyond the direct map's reach.
void find_ram() {
    static mm::PhysRange avail[mb2::kMaxMemoryRegions], holes[mb2::kMaxMemoryRegions];
    size_t na = 0, nh = 0;
    for (size_t i = 0; i < boot.region_count; ++i) {
        const mb2::MemoryRegion& r = boot.regions[i];
        uint64_t end = r.length > ~0ull - r.base ? ~0ull : r.base + r.length;
        (r.type == mb2::MemoryType::Available ? avail[na++] : holes[nh++]) = {r.base, end};
    }
    ram_count = mm::usable_ranges(avail, na, holes, nh, ram, mb2::kMaxMemoryRegions);
    if (ram_count == mm::kTooManyRanges) fail_boot("memory map: more than %zu ranges of usable RAM", mb2::kMaxMemoryRegions);
    uint64_t beyond = 0;
    while (ram_count && ram[ram_count - 1].end > x86::kDirectMapSpan) {
        mm::PhysRange& r = ram[ram_count - 1];
        if (r.base >= x86::kDirectMapSpan) {
            beyond += r.end - r.base;
            --ram_count;
        } else {
            beyond += r.end - x86::kDirectMapSpan;
            r.end = x86::kDirectMapSpan;
        }
    }
    if (beyond) print("hv: %lu MiB of RAM beyond the direct map's reach (0x%lx) left unused\n", beyond >> 20,
                      x86::kDirectMapSpan);
    if (ram_count == 0) fail_boot("memory map: no usable RAM");
}

void parse_boot_info(uint32_t magic, const void* info) {
    // total_size is the first word; the parser checks it against max_size.
    size_t size = info ? *static_cast<const uint32_t*>(info) : 0;
    mb2::ParseError e = mb2::parse(magic, info, size, boot);
    if (!e.ok()) fail_boot("malformed Multiboot2 boot information: %s (offset %lu)", e.what, e.offset);
}

void init_frames(uint64_t info_pa) {
    // What the allocator must never hand out: low memory, the kernel image,
    // the boot information and the modules (GRUB's fields for these are
    // 32-bit, so all of them lie below 4 GiB).
    static mm::PhysRange taken[3 + mb2::kMaxModules];
    size_t nt = 0;
    taken[nt++] = {0, kLowMemory};
    taken[nt++] = {uint64_t(__kernel_start), uint64_t(__kernel_end)};
    taken[nt++] = {info_pa, info_pa + boot.total_size};
    if (!in_available_ram(info_pa, info_pa + boot.total_size))
        fail_boot("boot information at 0x%lx lies outside available RAM", info_pa);
    for (size_t i = 0; i < boot.module_count; ++i) {
        const mb2::Module& m = boot.modules[i];
        taken[nt++] = {m.start, m.end};
        if (!in_available_ram(m.start, m.end)) fail_boot("module at 0x%lx lies outside available RAM", m.start);
    }

    // Two bits a frame up to the end of RAM (64 MiB for 1 TiB). They are
    // written before the kernel's tables exist, through the boot tables'
    // identity map, hence below 4 GiB; rebased to the direct map later.
    uint64_t top = ram[ram_count - 1].end;
    size_t words = mm::FrameAllocator::storage_words_for(top);
    uint64_t bytes = words * sizeof(uint64_t);
    if (!mm::lowest_fit(ram, ram_count, taken, nt, bytes, 4096, k4G, &frame_storage_pa))
        fail_boot("frame allocator: no %lu KiB of free RAM below 4 GiB for the bitmaps of RAM up to 0x%lx",
                  bytes >> 10, top);
    if (!frames.init(reinterpret_cast<uint64_t*>(frame_storage_pa), words, top))
        fail_boot("frame allocator: storage too small");
    uint64_t above = 0;
    for (size_t i = 0; i < ram_count; ++i) {
        frames.add_free(ram[i]);
        if (ram[i].end > k4G) above += ram[i].end - (ram[i].base > k4G ? ram[i].base : k4G);
    }
    for (size_t i = 0; i < nt; ++i) frames.reserve(taken[i]);
    frames.reserve({frame_storage_pa, frame_storage_pa + bytes});
    print("hv: %zu MiB of RAM usable (%lu MiB above 4 GiB), %zu MiB free; frame bitmaps %lu KiB at 0x%lx\n",
          frames.usable_frames() >> 8, above >> 20, frames.free_frames() >> 8, bytes >> 10, frame_storage_pa);
}

// The end of the RAM the frame allocator tracks.
uint64_t max_phys() { return ram[ram_count - 1].end; }

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
    find_ram();
    init_frames(info_pa);
    if (!x86::build_kernel_address_space(ram, ram_count, frames))
        fail_boot("could not build the kernel address space");
    // The bitmaps' identity address is gone with the boot tables.
    frames.rebase(x86::phys_to_virt<uint64_t>(frame_storage_pa));
    // Low memory is unmapped now; read the boot information through the direct map.
    parse_boot_info(magic, x86::phys_to_virt(info_pa));
    if (const mb2::Module* sym = mb2::find_module(boot, "hv.sym"))
        symbols::init(x86::phys_to_virt<const char>(sym->start), sym->end - sym->start);
    else
        HV_LOG_WARN("no hv.sym module: backtraces will show addresses only\n");

    {
        char why[200];
        if (!memory_check::run(frames, ram, ram_count, why, sizeof why)) fail_boot("%s", why);
    }

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
