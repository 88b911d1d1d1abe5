// A guest: its memory (host frames backing guest-physical [0, mem), memslot
// 0, and the slots added later), its EPT MMU (mm/mmu.h), the windows into
// other guests, its MMIO regions, its console and PC platform, and its vCPUs
// (kernel/vcpu.h; one for now), each run on its CPU until the guest stops. A
// guest that misbehaves is stopped with its reason; the hypervisor goes on.
// docs/vcpu.md says what is per VM and what is per vCPU.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/vmx/vmx.h"
#include "kernel/cmdline.h"
#include "kernel/devices/legacy_platform.h"
#include "kernel/guest_console.h"
#include "kernel/guest_outcome.h"
#include "kernel/linux/loader.h"
#include "kernel/mmio.h"
#include "kernel/serving_lock.h"
#include "kernel/vcpu.h"
#include "mm/mmu.h"
#include "include/hv/hypercall.h"

namespace hv {

namespace mb2 {
struct Module;
}

// What a memtest guest reported (HV_HC_MEMTEST_REPORT).
struct MemtestReport {
    bool valid;
    uint64_t gpa, bytes, mismatches;
};

// Another guest's memory mapped into this one (HV_HC_MAP_GUEST).
struct Window {
    uint64_t gpa;  // where it starts in this guest
    class Vm* target;
    bool writable;
};

class Vm {
public:
    static constexpr unsigned kMaxVcpus = HV_MAX_VCPUS;

    // Its spec.vcpus vCPUs, vCPU i on spec.vcpu_cpu(i).
    Vm(unsigned id, const cmdline::GuestSpec& spec, const vmx::Controls& controls, const mm::MmuSwitches& switches);
    ~Vm();
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    // Allocates and zeroes the slot, loads the image (none: empty memory),
    // creates the vCPUs. A Linux bzImage is loaded by the boot protocol, with
    // initrd (nullable) as its initrd, and gets the PC platform. False with a
    // reason in why when resources run out or the image does not fit.
    bool create(const mb2::Module* image, const mb2::Module* initrd, char* why, size_t why_size);
    // A Linux bzImage (the boot protocol's magic numbers; create() checks the rest).
    static bool is_linux_image(const mb2::Module* image);

    unsigned vcpu_count() const { return vcpu_count_; }
    Vcpu& vcpu(unsigned i) { return *reinterpret_cast<Vcpu*>(vcpu_storage_[i]); }
    const Vcpu& vcpu(unsigned i) const { return *reinterpret_cast<const Vcpu*>(vcpu_storage_[i]); }

    // Acquire: whoever sees it stopped also sees its outcome and reason.
    bool stopped() const { return __atomic_load_n(&stopped_, __ATOMIC_ACQUIRE); }
    Outcome outcome() const { return outcome_; }
    // Ends the guest with o and the reason: from any of its vCPUs' exits, or
    // a hypercall of its own (guest_exit). The first stop wins (two vCPUs may
    // stop it at once); the CPUs of its other vCPUs are kicked out of it.
    void stop(Outcome o, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void vstop(Outcome o, const char* fmt, va_list ap);

    // The control guest's requests, to every vCPU (each served by its own CPU).
    void request_pause();
    // HV_HC_SET_STATE: a record (accepted by state_refusal()) for the vCPU
    // it names, applied at the resume. 0, or -EBUSY if the guest is not
    // (or no longer) paused.
    int set_state(const hv_guest_state& s);
    // HV_HC_RESUME. Records set since the last resume must cover every vCPU
    // (-EINVAL, and the guest stays paused: a vCPU left out would go on as
    // it was, or stay not started, silently); the guest's TSC then goes on
    // from the latest of them (tsc_offset()), once, for all its vCPUs.
    int resume();
    void request_stop();
    // Every vCPU is parked.
    bool paused() const;
    // Some vCPU runs, or will at its CPU's next round.
    bool can_run() const;

    unsigned id() const { return id_; }
    bool control() const { return spec_.control; }
    const vmx::Controls& controls() const { return controls_; }
    // [0, 2^39): beyond that an EPT walk of 4 levels still reaches, but no
    // guest of ours maps it.
    static constexpr uint64_t kMaxWindowEnd = 1ull << 39;
    static constexpr uint32_t kFirstWindowSlot = HV_MAX_SLOTS;  // after the guest's own slots
    int add_window(const Window& w);  // 0 or a negative errno
    int remove_window(uint64_t gpa);  // the window that starts at gpa; 0 or -ENOENT
    // The host-physical page that gpa must map to: its slot or a window.
    bool expected_backing(uint64_t gpa, uint64_t& hpa) const;
    // The dirty-log interface (KVM's, on this VM), serialised per VM as KVM's
    // slots_lock does. 0 or a negative errno.
    int set_memory_region(const hv_memory_region& r);
    int get_dirty_log(uint32_t slot, uint64_t* out, size_t out_words);
    int clear_dirty_log(const hv_clear_dirty_log& c, const uint64_t* bitmap);
    int set_dirty_log_mode(bool manual_protect, bool initially_set);
    int register_mmio(uint64_t gpa, uint64_t size);  // 0 or a negative errno
    bool overlaps_mmio(uint64_t gpa, uint64_t size) const;  // one of its MMIO regions (slots_lock_)
    // The registered region that holds gpa, or nullptr.
    MmioRegion* mmio_region(uint64_t gpa);
    uint64_t mmio_emulated() const { return stats().mmio_emulated; }
    // Window i of HV_MAP_MAX; a free one has no target.
    const Window& window(size_t i) const { return windows_[i]; }
    const char* name() const { return spec_.name; }
    const cmdline::GuestSpec& spec() const { return spec_; }
    const char* stop_reason() const { return reason_; }
    // The sum over its vCPUs.
    VcpuStats stats() const;
    const MemtestReport& memtest() const { return memtest_; }
    uint64_t mem_bytes() const { return mem_bytes_; }
    uint64_t backing() const { return backing_; }
    mm::Mmu& mmu() { return mmu_; }
    const mm::Mmu& mmu() const { return mmu_; }
    const mm::MmuSwitches& switches() const { return switches_; }

    // For hypercall handlers. [gpa, gpa + n) must lie in the slot (checked,
    // overflow-safe); false and nothing copied otherwise.
    bool in_slot(uint64_t gpa, uint64_t n) const { return gpa <= mem_bytes_ && n <= mem_bytes_ - gpa; }
    bool read_guest(uint64_t gpa, void* dst, uint64_t n) const;
    // The one path by which the hypervisor writes into a guest's memory:
    // fill(p) writes the n bytes at p (the guest's [gpa, gpa + n)), then
    // every page written is marked dirty in the slot's log, so that a live
    // migration carries it (a write the EPT never saw is otherwise missed:
    // the bug class of cloud-hypervisor#5356 and propolis#233). False, and
    // nothing written, if the range is not inside slot 0.
    template <class Fill>
    bool write_guest_with(uint64_t gpa, uint64_t n, Fill fill) {
        if (!in_slot(gpa, n)) return false;
        fill(guest_bytes(gpa));
        mark_dirty(gpa, n);
        return true;
    }
    bool write_guest(uint64_t gpa, const void* src, uint64_t n);
    // Its console, written by any of its vCPUs: bytes go in under a lock.
    void console_write(const char* bytes, size_t n);
    const GuestConsole& console() const { return console_; }
    // The guest's TSC less the CPU's, the same for all its vCPUs (the VMCS's
    // TSC offset): 0 until a resume applies a state record.
    uint64_t tsc_offset() const { return __atomic_load_n(&tsc_offset_, __ATOMIC_RELAXED); }
    // HV_HC_START_VCPU from one of its own vCPUs: 0 or a negative errno.
    int start_vcpu(uint64_t index, uint64_t rip, uint64_t arg);
    // Serialises the emulation of accesses to its MMIO regions (the test
    // device's registers), which its vCPUs may make at once.
    SpinLock& mmio_lock() { return mmio_lock_; }
    void record_memtest(const MemtestReport& r) { memtest_ = r; }
    void guest_exit(uint64_t status);

    // The PC platform of a Linux guest, for its vCPUs (vm_platform.cpp).
    // Its clock counts PIT ticks of the guest's TSC from tsc0_ (modular).
    bool pc() const { return pc_; }
    devices::LegacyPlatform& legacy() { return legacy_; }
    // The boot vCPU's state at the kernel's entry (the boot protocol's).
    const linuxboot::EntryState& linux_entry() const { return linux_entry_; }
    uint64_t platform_now(uint64_t guest_tsc) const;   // PIT ticks at that guest TSC
    uint64_t guest_tsc_at(uint64_t ticks) const;       // the last guest TSC before tick `ticks`
    // Advances the devices to guest_tsc; the tick of the next timer event,
    // or devices::i8254::kNever.
    uint64_t next_platform_tick(uint64_t guest_tsc);
    // The guest pulled the reset line (which way), or nullptr.
    const char* reset_by() const { return reset_by_; }
    bool panicked() const { return panicked_; }
    // The platform's part of a state record: its clock and devices.
    void save_platform(hv_guest_state& s);
    void restore_platform(const hv_guest_state& s);

private:
    void* guest_bytes(uint64_t gpa) const;
    void mark_dirty(uint64_t gpa, uint64_t n);
    void destroy();
    void sync_pml();

    bool load_linux(const linuxboot::LinuxLayout& l, const mb2::Module* image, const mb2::Module* initrd,
                    char* why, size_t n);
    static void console_byte(void* vm, uint8_t byte);
    static void reset_line(void* vm, devices::ResetSource source);

    unsigned id_;
    cmdline::GuestSpec spec_;
    const vmx::Controls& controls_;
    mm::MmuSwitches switches_;
    mm::Mmu mmu_;
    bool mmu_ready_ = false;
    SpinLock console_lock_;
    GuestConsole console_;  // console_lock_
    SpinLock mmio_lock_;
    // Constructed in place, only the first vcpu_count_ (no hidden allocation,
    // and no vCPU that does not exist).
    alignas(Vcpu) unsigned char vcpu_storage_[kMaxVcpus][sizeof(Vcpu)];
    unsigned vcpu_count_;
    uint64_t backing_ = 0;   // host-physical base of the slot
    uint64_t mem_bytes_ = 0;
    bool stopped_ = false;
    bool stopping_ = false;  // the first stop() claims it (atomic)
    uint64_t tsc_offset_ = 0;
    // SET_STATE and RESUME: records set since the last resume (the check
    // and the clock of the next one).
    SpinLock records_lock_;
    bool records_set_ = false;
    Window windows_[HV_MAP_MAX] = {};
    ServingLock slots_lock_;
    uint32_t writable_windows_onto_ = 0;  // other guests' writable windows onto slot 0 (slots_lock_)
    struct SlotBacking {
        uint64_t pa, bytes, gpa;  // bytes == 0: no such slot
    };
    SlotBacking slots_[HV_MAX_SLOTS] = {};
    MmioRegion mmio_[HV_MMIO_MAX] = {};
    size_t mmio_count_ = 0;
    Outcome outcome_ = Outcome::Unexpected;
    char reason_[160] = "";
    MemtestReport memtest_{};

    // A Linux guest's platform and boot state.
    devices::LegacyPlatform legacy_;
    bool pc_ = false;              // the guest has the PC platform (a Linux guest)
    const char* reset_by_ = nullptr;  // the guest pulled the reset line: which way
    bool panicked_ = false;        // its console said it panicked
    uint64_t tsc0_ = 0;            // the guest's TSC at platform tick 0
    linuxboot::EntryState linux_entry_{};
};

}  // namespace hv
