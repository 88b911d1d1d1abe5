#include "kernel/vm.h"

#include <stdarg.h>

#include <new>

#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "include/hv/hypercall.h"
#include "kernel/format.h"
#include "kernel/guests.h"
#include "kernel/multiboot2.h"
#include "kernel/mmu_platform.h"
#include "kernel/smp.h"
#include "mm/frame_allocator.h"

extern "C" void* memcpy(void*, const void*, size_t);
extern "C" void* memset(void*, int, size_t);

namespace hv {
namespace {

constexpr uint64_t k2M = 2ull << 20;

}  // namespace

Vm::Vm(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls, const mm::MmuSwitches& switches)
    : id_(id), spec_(spec), controls_(controls), switches_(switches), console_(spec_.name),
      vcpu_count_(spec.vcpus >= 1 && spec.vcpus <= kMaxVcpus ? spec.vcpus : 1),
      legacy_(devices::ByteSink{&Vm::console_byte, this}, devices::ResetLine{&Vm::reset_line, this}) {
    for (unsigned i = 0; i < vcpu_count_; ++i) new (vcpu_storage_[i]) Vcpu(*this, i, spec_.vcpu_cpu(i), controls);
}

Vm::~Vm() {
    destroy();
    for (unsigned i = 0; i < vcpu_count_; ++i) vcpu(i).~Vcpu();
}

bool Vm::create(const mb2::Module* image, const mb2::Module* initrd, char* why, size_t n) {
    pc_ = is_linux_image(image);
    if (spec_.mem_mib == 0) spec_.mem_mib = pc_ ? cmdline::kDefaultLinuxMemMib : cmdline::kDefaultGuestMemMib;
    // A Linux guest ends by resetting its machine (its /init's checks pass) unless told otherwise.
    if (pc_ && !spec_.has_expect) spec_.expect = Outcome::Reset;
    mem_bytes_ = spec_.mem_mib << 20;
    uint64_t image_bytes = image ? image->end - image->start : 0;
    linuxboot::LinuxLayout layout{};
    if (pc_) {
        layout = linuxboot::plan(x86::phys_to_virt<uint8_t>(image->start), image_bytes, mem_bytes_,
                                 initrd ? initrd->end - initrd->start : 0,
                                 spec_.has_cmdline ? spec_.cmdline : cmdline::kLinuxCmdline, why, n);
        if (!layout.ok) return false;
    } else if (image && (image_bytes == 0 || image_bytes > mem_bytes_ - HV_GUEST_LOAD_GPA)) {
        return fail(why, n, "image of %lu bytes does not fit in %lu MiB at 0x%x", image_bytes, spec_.mem_mib,
                    HV_GUEST_LOAD_GPA);
    }

    // The slot is backed by host frames aligned to 2 MiB, so that the MMU
    // maps it with huge EPT pages from the start.
    backing_ = mmu_platform::alloc_frames(mem_bytes_ >> 12, k2M >> 12);
    if (!backing_) return fail(why, n, "no %lu MiB of contiguous host memory for its slot", spec_.mem_mib);
    // Zeroed: a guest must never see what an earlier guest left in a frame.
    mmu_platform::zero(backing_, mem_bytes_);
    if (!pc_) {
        if (image)
            memcpy(x86::phys_to_virt<char>(backing_ + HV_GUEST_LOAD_GPA), x86::phys_to_virt(image->start),
                   image_bytes);
        auto* boot = x86::phys_to_virt<hv_guest_boot>(backing_ + HV_GUEST_BOOT_GPA);
        boot->magic = HV_GUEST_BOOT_MAGIC;
        boot->abi_version = HV_ABI_VERSION;
        boot->mem_bytes = mem_bytes_;
        boot->tsc_hz = x86::tsc::hz();
        boot->vcpus = vcpu_count_;
        format(boot->name, sizeof boot->name, "%s", spec_.name);
        format(boot->args, sizeof boot->args, "%s", spec_.args);
    }

    mm::Mmu::Config cfg;
    cfg.manual_protect = spec_.manual_protect;
    cfg.initially_set = spec_.initially_set;
    cfg.initial_generation = spec_.mmio_gen_start;
    if (!mmu_.init(mmu_platform::platform(), &mmu_platform::epoch(), &mmu_platform::rmap_descs(), switches_, cfg))
        return fail(why, n, "no memory for its EPT MMU");
    mmu_ready_ = true;
    if (int e = mmu_.set_memory_region(0, 0, mem_bytes_ >> 12, backing_ >> 12, 0); e)
        return fail(why, n, "memslot 0: error %d", e);
    // Flushes of this EPT go to every CPU that runs one of its vCPUs.
    for (unsigned i = 0; i < vcpu_count_; ++i) mmu_platform::place(mmu_.eptp(), vcpu(i).cpu(), spec_.name);
    slots_[0] = {backing_, mem_bytes_, 0};
    // Through write_guest, so after slot 0 exists (the one path that dirty-logs).
    if (pc_ && !load_linux(layout, image, initrd, why, n)) return false;
    // After the boot state: a vCPU starts with the boot protocol's registers.
    for (unsigned i = 0; i < vcpu_count_; ++i)
        if (!vcpu(i).create(why, n)) return false;
    return true;
}

void Vm::destroy() {
    {
        LockGuard g(console_lock_);
        console_.flush();
    }
    for (unsigned i = 0; i < vcpu_count_; ++i) vcpu(i).destroy();
    if (mmu_ready_) {
        // Zaps every mapping (flushing the TLBs of the CPUs that ran it) and
        // frees the tables after a grace period. No CPU runs this guest any
        // more, so its slots' frames can go back at once.
        mmu_platform::unplace(mmu_.eptp());
        mmu_.destroy();
        mmu_ready_ = false;
    }
    // Slot 0's frames are backing_; the others were allocated by
    // set_memory_region. No CPU can reach them: the MMU is gone.
    for (uint32_t i = 1; i < HV_MAX_SLOTS; ++i)
        if (slots_[i].bytes) mmu_platform::free_frames(slots_[i].pa, slots_[i].bytes >> 12);
    if (backing_) {
        mmu_platform::free_frames(backing_, mem_bytes_ >> 12);
        backing_ = 0;
    }
}

void Vm::request_pause() {
    for (unsigned i = 0; i < vcpu_count_; ++i) vcpu(i).request_pause();
}

int Vm::set_state(const hv_guest_state& s) {
    LockGuard g(records_lock_);
    if (!paused() || !vcpu(s.vcpu_index).set_pending_state(s)) return -HV_EBUSY;
    records_set_ = true;
    return 0;
}

int Vm::resume() {
    LockGuard g(records_lock_);
    if (records_set_) {
        unsigned with = 0;
        uint64_t latest = 0;
        for (unsigned i = 0; i < vcpu_count_; ++i)
            if (uint64_t tsc; vcpu(i).pending_tsc(tsc)) {
                latest = with == 0 || tsc > latest ? tsc : latest;
                ++with;
            }
        if (with != vcpu_count_) return -HV_EINVAL;
        // One offset for all its vCPUs, so that they read one clock: the
        // guest's TSC goes on from the latest record's (no vCPU sees it run
        // backwards). Once per set of records: a second resume while some
        // vCPUs are still parked would give those a different clock.
        // Relaxed: each vCPU's CPU reads it after the acquire of its resume
        // flag, which request_resume() sets with release.
        __atomic_store_n(&tsc_offset_, latest - x86::rdtsc(), __ATOMIC_RELAXED);
        records_set_ = false;
    }
    for (unsigned i = 0; i < vcpu_count_; ++i) vcpu(i).request_resume();
    return 0;
}

void Vm::request_stop() {
    for (unsigned i = 0; i < vcpu_count_; ++i) vcpu(i).request_stop();
}

bool Vm::paused() const {
    // Every vCPU parked, then none with a start still to apply. Two passes:
    // starts come from the guest's own running vCPUs, so once all are parked
    // no new one can come, and one asked before the last vCPU parked is seen
    // in the second pass (its release precedes that vCPU's park, which the
    // first pass acquired). One pass could miss a start that vCPU 2 asks of
    // vCPU 1 after vCPU 1 was looked at.
    for (unsigned i = 0; i < vcpu_count_; ++i)
        if (!vcpu(i).parked()) return false;
    for (unsigned i = 0; i < vcpu_count_; ++i)
        if (vcpu(i).start_pending()) return false;
    return true;
}

bool Vm::can_run() const {
    for (unsigned i = 0; i < vcpu_count_; ++i)
        if (vcpu(i).can_run()) return true;
    return false;
}

VcpuStats Vm::stats() const {
    VcpuStats sum{};
    for (unsigned i = 0; i < vcpu_count_; ++i) sum.add(vcpu(i).stats());
    return sum;
}

int Vm::start_vcpu(uint64_t index, uint64_t rip, uint64_t arg) {
    if (index >= vcpu_count_ || arg > 0xffffffffull || rip > 0xffffffffull || !in_slot(rip, 1)) return -HV_EINVAL;
    return vcpu(unsigned(index)).request_start(uint32_t(rip), uint32_t(arg)) ? 0 : -HV_EBUSY;
}

void Vm::console_write(const char* bytes, size_t n) {
    LockGuard g(console_lock_);
    for (size_t i = 0; i < n; ++i) console_.put(bytes[i]);
}

int Vm::add_window(const Window& w) {
    uint64_t size = w.target->mem_bytes();
    if (w.gpa % (2ull << 20) || w.gpa < mem_bytes_ || w.gpa >= kMaxWindowEnd || size > kMaxWindowEnd - w.gpa)
        return -HV_EINVAL;
    // Writes through a writable window are this guest's stores into the
    // target's frames: the target's EPT never sees them, so its dirty log
    // would not either. A writable window onto a guest whose memory logs is
    // refused, and so is logging while one exists (set_memory_region).
    if (w.writable) {
        ServingGuard tg(w.target->slots_lock_);
        if (w.target->mmu_.slots()->by_id(0)->logging()) return -HV_EBUSY;
        ++w.target->writable_windows_onto_;
    }
    // The caller's own slots: another control guest may be changing them.
    int e = 0;
    {
        ServingGuard g(slots_lock_);
        size_t free = HV_MAP_MAX;
        for (size_t i = 0; i < HV_MAP_MAX && !e; ++i) {
            const Window& o = windows_[i];
            if (!o.target) {
                if (free == HV_MAP_MAX) free = i;
            } else if (w.gpa < o.gpa + o.target->mem_bytes() && o.gpa < w.gpa + size) {
                e = -HV_EEXIST;
            }
        }
        if (!e && overlaps_mmio(w.gpa, size)) e = -HV_EEXIST;
        if (!e && free == HV_MAP_MAX) e = -HV_ENOSPC;
        // A window is a memslot of this guest backed by the target's frames.
        if (!e)
            e = mmu_.set_memory_region(uint32_t(kFirstWindowSlot + free), w.gpa >> 12, size >> 12,
                                       w.target->backing() >> 12, w.writable ? 0u : uint32_t(mm::kReadOnly));
        if (!e) windows_[free] = w;
    }
    if (e && w.writable) {
        ServingGuard tg(w.target->slots_lock_);
        --w.target->writable_windows_onto_;
    }
    return e;
}

int Vm::remove_window(uint64_t gpa) {
    Window w{};
    {
        ServingGuard g(slots_lock_);
        size_t i = 0;
        while (i < HV_MAP_MAX && !(windows_[i].target && windows_[i].gpa == gpa)) ++i;
        if (i == HV_MAP_MAX) return -HV_ENOENT;
        // The MMU zaps the slot and flushes every TLB that held it: once
        // this returns no CPU of this guest can reach the target's frames.
        if (int e = mmu_.set_memory_region(uint32_t(kFirstWindowSlot + i), 0, 0, 0, 0); e) return e;
        w = windows_[i];
        windows_[i] = Window{};
    }
    // Now the target's memory may log again (a chained migration's next hop).
    if (w.writable) {
        ServingGuard tg(w.target->slots_lock_);
        --w.target->writable_windows_onto_;
    }
    return 0;
}

bool Vm::expected_backing(uint64_t gpa, uint64_t& hpa) const {
    for (const SlotBacking& s : slots_)
        if (s.bytes && gpa >= s.gpa && gpa - s.gpa < s.bytes) {
            hpa = s.pa + (gpa - s.gpa);
            return true;
        }
    for (const Window& w : windows_) {
        if (w.target && gpa >= w.gpa && gpa - w.gpa < w.target->mem_bytes()) {
            hpa = w.target->backing() + (gpa - w.gpa);
            return true;
        }
    }
    return false;
}

int Vm::set_memory_region(const hv_memory_region& r) {
    constexpr uint32_t kFlags = HV_MEM_LOG_DIRTY_PAGES | HV_MEM_READONLY;
    static_assert(HV_MEM_LOG_DIRTY_PAGES == mm::kLogDirtyPages && HV_MEM_READONLY == mm::kReadOnly);
    if (r.slot >= HV_MAX_SLOTS || (r.flags & ~kFlags)) return -HV_EINVAL;
    if ((r.guest_phys_addr | r.memory_size) & 0xfff || r.memory_size > HV_MAX_SLOT_BYTES ||
        r.guest_phys_addr >= kMaxWindowEnd || r.memory_size > kMaxWindowEnd - r.guest_phys_addr)
        return -HV_EINVAL;
    ServingGuard g(slots_lock_);
    // Memory over one of the guest's MMIO regions would hide its device: its
    // accesses would go to RAM and never trap (register_mmio() refuses the
    // other order).
    if (r.memory_size && overlaps_mmio(r.guest_phys_addr, r.memory_size)) return -HV_EEXIST;
    // Logging slot 0 while another guest can write it through a window
    // would miss those writes (add_window()).
    if (r.slot == 0 && (r.flags & HV_MEM_LOG_DIRTY_PAGES) && writable_windows_onto_) return -HV_EBUSY;
    SlotBacking& s = slots_[r.slot];
    bool exists = s.bytes != 0;
    // Slot 0 holds the image and the boot block, and the hypervisor reads
    // guest buffers through it: it stays where it is.
    if (r.slot == 0 && (r.guest_phys_addr != 0 || r.memory_size != s.bytes)) return -HV_EINVAL;
    if (exists && r.memory_size && r.memory_size != s.bytes) return -HV_EINVAL;  // no resize, as KVM
    if (!exists && !r.memory_size) return -HV_EINVAL;
    uint64_t pa = s.pa;
    if (!exists) {
        // Fresh memory, 2 MiB aligned when the size allows huge mappings.
        uint64_t pages = r.memory_size >> 12;
        pa = mmu_platform::alloc_frames(pages, r.memory_size % (2ull << 20) ? 1 : 512);
        if (!pa) return -HV_ENOSPC;
        mmu_platform::zero(pa, r.memory_size);  // serves flush requests as it goes
    }
    int e = mmu_.set_memory_region(r.slot, r.guest_phys_addr >> 12, r.memory_size >> 12, pa >> 12, r.flags);
    if (e) {
        if (!exists) mmu_platform::free_frames(pa, r.memory_size >> 12);
        return e;
    }
    if (!r.memory_size) {
        // The MMU zapped the slot and flushed every TLB that held it.
        mmu_platform::free_frames(s.pa, s.bytes >> 12);
        s = {};
    } else {
        s = {pa, r.memory_size, r.guest_phys_addr};
    }
    return 0;
}

// PML: a write logged by a CPU still in the guest is in that CPU's log, not
// yet in the bitmap. The flush is the sync: it returns once every CPU that
// runs this guest has been kicked out and back in, draining at the exit.
// (Every vCPU of a created guest has its log when the switch is on.)
void Vm::sync_pml() {
    if (switches_.pml) mmu_.flush_tlb();
}

int Vm::get_dirty_log(uint32_t slot, uint64_t* out, size_t out_words) {
    ServingGuard g(slots_lock_);
    sync_pml();
    return mmu_.get_dirty_log(slot, out, out_words);
}

int Vm::set_dirty_log_mode(bool manual_protect, bool initially_set) {
    ServingGuard g(slots_lock_);
    return mmu_.set_dirty_log_mode(manual_protect, initially_set);
}

int Vm::clear_dirty_log(const hv_clear_dirty_log& c, const uint64_t* bitmap) {
    ServingGuard g(slots_lock_);
    sync_pml();
    return mmu_.clear_dirty_log(c.slot, c.first_page, c.num_pages, bitmap);
}

bool Vm::overlaps_mmio(uint64_t gpa, uint64_t size) const {
    for (size_t i = 0, n = __atomic_load_n(&mmio_count_, __ATOMIC_ACQUIRE); i < n; ++i)
        if (mmio_[i].gpa < gpa + size && gpa < mmio_[i].gpa + HV_MMIO_SIZE) return true;
    return false;
}

int Vm::register_mmio(uint64_t gpa, uint64_t size) {
    uint64_t hpa;
    // As for a slot: the region may end exactly at kMaxWindowEnd.
    if (gpa % 4096 || size != HV_MMIO_SIZE || gpa > kMaxWindowEnd - size) return -HV_EINVAL;
    // The slots may be changing: a control guest's SET_MEMORY_REGION on
    // this guest, from another CPU.
    ServingGuard g(slots_lock_);
    if (expected_backing(gpa, hpa) || expected_backing(gpa + size - 1, hpa)) return -HV_EEXIST;
    if (overlaps_mmio(gpa, size)) return -HV_EEXIST;
    if (mmio_count_ == HV_MMIO_MAX) return -HV_ENOSPC;
    mmio_[mmio_count_] = MmioRegion{gpa, {}, 0};
    // Release: a vCPU that faults there (mmio_region(), no lock) finds the
    // region whole. Regions are only ever added.
    __atomic_store_n(&mmio_count_, mmio_count_ + 1, __ATOMIC_RELEASE);
    return 0;
}

MmioRegion* Vm::mmio_region(uint64_t gpa) {
    for (size_t i = 0, n = __atomic_load_n(&mmio_count_, __ATOMIC_ACQUIRE); i < n; ++i)
        if (mmio_[i].contains(gpa)) return &mmio_[i];
    return nullptr;
}

bool Vm::read_guest(uint64_t gpa, void* dst, uint64_t n) const {
    if (!in_slot(gpa, n)) return false;
    memcpy(dst, x86::phys_to_virt(backing_ + gpa), n);
    return true;
}

void* Vm::guest_bytes(uint64_t gpa) const { return x86::phys_to_virt(backing_ + gpa); }

void Vm::mark_dirty(uint64_t gpa, uint64_t n) {
    if (n == 0) return;
    for (uint64_t gfn = gpa >> 12; gfn <= (gpa + n - 1) >> 12; ++gfn) mmu_.mark_page_dirty(gfn);
}

bool Vm::write_guest(uint64_t gpa, const void* src, uint64_t n) {
    return write_guest_with(gpa, n, [src, n](void* dst) { memcpy(dst, src, n); });
}

void Vm::guest_exit(uint64_t status) {
    if (status == 0)
        stop(Outcome::Exited, "exited with status 0");
    else
        stop(Outcome::ExitedFailing, "exited with status %lu", status);
}

void Vm::stop(Outcome o, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vstop(o, fmt, ap);
    va_end(ap);
}

void Vm::vstop(Outcome o, const char* fmt, va_list ap) {
    if (__atomic_exchange_n(&stopping_, true, __ATOMIC_ACQ_REL)) return;
    outcome_ = o;
    vformat(reason_, sizeof reason_, fmt, ap);
    {
        LockGuard g(console_lock_);
        console_.flush();
    }
    // Release: the outcome and reason are complete before anyone sees it stopped.
    __atomic_store_n(&stopped_, true, __ATOMIC_RELEASE);
    // Its other vCPUs leave it now, not at the end of their slices.
    const unsigned self = smp::current_cpu();
    for (unsigned i = 0; i < vcpu_count_; ++i)
        if (vcpu(i).cpu() != self) smp::kick(vcpu(i).cpu());
    // Not how it was expected to end: the run's verdict is FAIL whatever the
    // others do, so they are stopped rather than left to run until a
    // watchdog (a source that only its failed migrator would stop).
    if (o != spec_.expect) guests::verdict_known(*this);
}

}  // namespace hv
