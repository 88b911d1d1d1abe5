// A Linux guest's PC platform, driven from its VM exits (docs/linux-guest.md):
//
// - Port I/O goes to kernel/devices/legacy_platform.h (8259 pair, 8254,
//   COM1, CMOS, 8042, 0xcf9); COM1's bytes become the guest's console lines,
//   the reset line ends the guest with outcome `reset`.
// - Time: the devices count PIT ticks, derived from the TSC from the guest's
//   creation on, so a guest's timer keeps time while it is descheduled. The
//   VMX-preemption timer is armed for the 8254's next expiry (or the end of
//   the slice, whichever is first).
// - Interrupts (Intel SDM Vol. 3C, 27.6 and 28.2): before each VM entry the
//   8259's pending request is acknowledged and injected when the guest can
//   take it (RFLAGS.IF, no STI or MOV-SS shadow, no event queued); otherwise
//   interrupt-window exiting brings the vCPU back as soon as it can. An event
//   whose delivery a VM exit interrupted (IDT-vectoring information) is
//   queued again before anything else.
// - HLT with interrupts on is "idle until the next interrupt": the vCPU
//   yields its CPU and runs again once the platform has an interrupt for it;
//   with interrupts off nothing can wake it and the guest ends `halted`
//   (poweroff -f).
#include "arch/x86/cpu.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "arch/x86/vmx/controls.h"
#include "arch/x86/vmx/instructions.h"
#include "arch/x86/vmx/vmcs.h"
#include "kernel/multiboot2.h"
#include "kernel/vm.h"

extern "C" void* memcpy(void*, const void*, size_t);

namespace hv {
namespace {

using F = vmx::VmcsField;
uint64_t rd(F f) { return vmx::vmread(f); }
void wr(F f, uint64_t v) { vmx::vmwrite(f, v); }

// VM-entry interruption information and IDT-vectoring information (Intel SDM
// Vol. 3C, 25.8.3 and 25.9.3): vector 7:0, type 10:8, error code 11, valid 31.
constexpr uint32_t kEventValid = 1u << 31, kEventErrorCode = 1u << 11, kEventTypeMask = 7u << 8;
constexpr uint32_t kTypeExternal = 0u << 8, kTypeSoftInt = 4u << 8, kTypePrivSoftException = 5u << 8,
                   kTypeSoftException = 6u << 8;
// Interruptibility state: blocking by STI (bit 0) and by MOV SS (bit 1).
constexpr uint64_t kBlockingStiMovSs = 3;

}  // namespace

bool Vm::is_linux_image(const mb2::Module* image) {
    return image && linuxboot::has_boot_magic(x86::phys_to_virt<uint8_t>(image->start), image->end - image->start);
}

bool Vm::load_linux(const linuxboot::LinuxLayout& l, const mb2::Module* image, const mb2::Module* initrd,
                    char* why, size_t n) {
    const uint8_t* bytes = x86::phys_to_virt<uint8_t>(image->start);
    const size_t len = image->end - image->start;
    const char* cmdline = spec_.has_cmdline ? spec_.cmdline : cmdline::kLinuxCmdline;
    bool ok = write_guest(l.kernel_gpa, bytes + l.kernel_file_offset, l.kernel_file_size);
    if (ok && l.initrd_len) ok = write_guest(l.initrd_gpa, x86::phys_to_virt(initrd->start), l.initrd_len);
    if (ok)
        ok = write_guest_with(linuxboot::kBootBlockGpa, linuxboot::kBootBlockSize, [&](void* p) {
            ok = linuxboot::write_boot_block(l, bytes, len, cmdline, static_cast<uint8_t*>(p),
                                             linuxboot::kBootBlockSize);
        });
    if (!ok) {
        format(why, n, "Linux: the planned layout does not fit its %lu MiB", spec_.mem_mib);
        return false;
    }
    linux_entry_ = l.entry;  // the boot vCPU starts there (Vcpu::create, prepare)
    tsc0_ = x86::rdtsc();  // the platform's clock: PIT ticks from now on
    return true;
}

void Vcpu::write_linux_entry_state() {
    const linuxboot::EntryState& e = vm_.linux_entry();
    struct Seg {
        const linuxboot::Segment& s;
        F sel, base, limit, ar;
    };
    const Seg segs[] = {
        {e.cs, F::GUEST_CS_SELECTOR, F::GUEST_CS_BASE, F::GUEST_CS_LIMIT, F::GUEST_CS_AR_BYTES},
        {e.ds, F::GUEST_DS_SELECTOR, F::GUEST_DS_BASE, F::GUEST_DS_LIMIT, F::GUEST_DS_AR_BYTES},
        {e.es, F::GUEST_ES_SELECTOR, F::GUEST_ES_BASE, F::GUEST_ES_LIMIT, F::GUEST_ES_AR_BYTES},
        {e.ss, F::GUEST_SS_SELECTOR, F::GUEST_SS_BASE, F::GUEST_SS_LIMIT, F::GUEST_SS_AR_BYTES},
        {e.fs, F::GUEST_FS_SELECTOR, F::GUEST_FS_BASE, F::GUEST_FS_LIMIT, F::GUEST_FS_AR_BYTES},
        {e.gs, F::GUEST_GS_SELECTOR, F::GUEST_GS_BASE, F::GUEST_GS_LIMIT, F::GUEST_GS_AR_BYTES},
        {e.tr, F::GUEST_TR_SELECTOR, F::GUEST_TR_BASE, F::GUEST_TR_LIMIT, F::GUEST_TR_AR_BYTES},
        {e.ldtr, F::GUEST_LDTR_SELECTOR, F::GUEST_LDTR_BASE, F::GUEST_LDTR_LIMIT, F::GUEST_LDTR_AR_BYTES},
    };
    for (const Seg& g : segs) {
        wr(g.sel, g.s.selector);
        wr(g.base, g.s.base);
        wr(g.limit, g.s.limit);
        wr(g.ar, g.s.access_rights);
    }
    wr(F::GUEST_GDTR_BASE, e.gdt_base);
    wr(F::GUEST_GDTR_LIMIT, e.gdt_limit);
    wr(F::GUEST_IDTR_BASE, e.idt_base);
    wr(F::GUEST_IDTR_LIMIT, e.idt_limit);
    // CR0 and CR4 as the guest sees them go to the read shadows; the real
    // registers add what VMX fixes (CD and NW stay the host's: docs/vcpu.md).
    const vmx::Controls& c = controls_;
    wr(F::GUEST_CR0, ((e.cr0 & ~(x86::cr0::CD | x86::cr0::NW)) | (c.cr0_fixed0 & ~(x86::cr0::PE | x86::cr0::PG))) &
                         c.cr0_fixed1);
    wr(F::CR0_READ_SHADOW, e.cr0);
    wr(F::GUEST_CR4, (e.cr4 | c.cr4_fixed0) & c.cr4_fixed1);
    wr(F::CR4_READ_SHADOW, e.cr4);
    wr(F::GUEST_CR3, e.cr3);
    wr(F::GUEST_IA32_EFER, e.efer);
    wr(F::VM_ENTRY_CONTROLS, rd(F::VM_ENTRY_CONTROLS) | vmx::entry_ctl::IA32E_MODE_GUEST);
    wr(F::GUEST_RSP, e.rsp);
    wr(F::GUEST_RIP, e.rip);
    wr(F::GUEST_RFLAGS, e.rflags);
}

// ---- port I/O ----

void Vm::console_byte(void* vm, uint8_t byte) {
    Vm* self = static_cast<Vm*>(vm);
    LockGuard g(self->console_lock_);
    self->console_.put(char(byte));
    if (!self->panicked_ && self->console_.panic()) self->panicked_ = true;
}

void Vm::reset_line(void* vm, devices::ResetSource source) {
    static constexpr const char* kHow[] = {"8042 reset pulse", "8042 output port", "port 0xcf9 hard reset",
                                           "port 0xcf9 soft reset"};
    static_cast<Vm*>(vm)->reset_by_ = kHow[unsigned(source)];
}

Vcpu::Next Vcpu::platform_io(uint16_t port, unsigned size, bool in) {
    devices::LegacyPlatform& legacy = vm_.legacy();
    const uint64_t now = vm_.platform_now(guest_tsc(x86::rdtsc()));
    const uint64_t mask = size == 4 ? 0xffffffffull : (1ull << (8 * size)) - 1;
    if (in) {
        uint32_t v = 0;
        legacy.read(port, size, now, v);  // an unclaimed port reads as a floating bus
        // A 32-bit IN zero-extends into RAX; 8/16-bit ones leave the rest.
        regs_.rax = size == 4 ? (v & mask) : (regs_.rax & ~mask) | (v & mask);
    } else {
        legacy.write(port, size, uint32_t(regs_.rax & mask), now);
    }
    skip_instruction();
    if (const char* how = vm_.reset_by()) return stop(Outcome::Reset, "reset by the guest (%s)", how);
    if (vm_.panicked()) return stop(Outcome::Panicked, "the guest's kernel panicked: %s", vm_.console().panic());
    return Next::Resume;
}

// ---- time ----

// Exact floors both ways (quotient and remainder, no fixed point): the
// review found that a 32-bit fractional rate kept only ~21 bits at 3 GHz, so
// the clock ran slow against its own inverse and the timer was armed ever
// earlier with uptime, until an hour in most entries ran no instruction.
// tsc_at(t) is the last TSC before tick t, so arming for t + 1 is never early.
// The platform's clock is the guest's TSC (the CPU's plus the offset), so it
// goes on across a migration from where the source's stopped.
// Modular: a guest TSC that wraps (a record may start it near 2^64) keeps
// the platform's clock going.
// The clock is the VM's (one platform), the TSC offset the vCPU's: a vCPU
// turns its CPU's TSC into the guest's and back.
uint64_t Vm::platform_now(uint64_t guest_tsc) const {
    return devices::tsc_to_pit_ticks(guest_tsc - tsc0_, x86::tsc::hz());
}

uint64_t Vm::guest_tsc_at(uint64_t ticks) const { return tsc0_ + devices::pit_ticks_to_tsc(ticks, x86::tsc::hz()); }

uint64_t Vm::next_platform_tick(uint64_t guest_tsc) {
    const uint64_t now = platform_now(guest_tsc);
    legacy_.advance(now);
    return legacy_.next_event(now);
}

void Vm::save_platform(hv_guest_state& s) {
    s.platform_tsc0 = tsc0_;
    legacy_.save(s.platform);
}

void Vm::restore_platform(const hv_guest_state& s) {
    pc_ = s.flags & HV_STATE_PC_PLATFORM;
    if (pc_) {
        tsc0_ = s.platform_tsc0;
        legacy_.restore(s.platform);
    }
}

uint64_t Vcpu::next_platform_event(uint64_t tsc) {
    const uint64_t next = vm_.next_platform_tick(guest_tsc(tsc));
    // One tick late rather than early: the fixed-point round trip truncates.
    return next == devices::i8254::kNever ? ~0ull : vm_.guest_tsc_at(next + 1) - vm_tsc_offset();
}

// ---- interrupts ----

void Vcpu::set_interrupt_window(bool on) {
    if (on == window_) return;
    window_ = on;
    uint64_t proc = rd(F::CPU_BASED_VM_EXEC_CONTROL);
    wr(F::CPU_BASED_VM_EXEC_CONTROL,
       on ? proc | vmx::proc::INTERRUPT_WINDOW_EXITING : proc & ~uint64_t(vmx::proc::INTERRUPT_WINDOW_EXITING));
}

void Vcpu::requeue_interrupted_event() {
    const uint32_t idt = uint32_t(rd(F::IDT_VECTORING_INFO_FIELD));
    if (!(idt & kEventValid)) return;
    // Bit 12 of the IDT-vectoring field is undefined; the rest is the entry format.
    wr(F::VM_ENTRY_INTR_INFO_FIELD, idt & ~(1u << 12));
    if (idt & kEventErrorCode) wr(F::VM_ENTRY_EXCEPTION_ERROR_CODE, rd(F::IDT_VECTORING_ERROR_CODE));
    const uint32_t type = idt & kEventTypeMask;
    if (type == kTypeSoftInt || type == kTypePrivSoftException || type == kTypeSoftException)
        wr(F::VM_ENTRY_INSTRUCTION_LEN, rd(F::VM_EXIT_INSTRUCTION_LEN));
}

void Vcpu::inject_interrupt() {
    devices::LegacyPlatform& legacy = vm_.legacy();
    const bool want = legacy.interrupt_pending();
    if (rd(F::VM_ENTRY_INTR_INFO_FIELD) & kEventValid) {
        // An event is queued already (re-delivery, or an exception of ours):
        // it goes first; come back for the interrupt right after it.
        set_interrupt_window(want);
        return;
    }
    if (!want) {
        set_interrupt_window(false);
        return;
    }
    if ((rd(F::GUEST_RFLAGS) & x86::rflags::IF) && !(rd(F::GUEST_INTERRUPTIBILITY_INFO) & kBlockingStiMovSs)) {
        wr(F::VM_ENTRY_INTR_INFO_FIELD, kEventValid | kTypeExternal | legacy.acknowledge_interrupt());
        ++stats_.interrupts_injected;
        set_interrupt_window(false);
    } else {
        set_interrupt_window(true);
    }
}

// ---- HLT ----

Vcpu::Next Vcpu::on_hlt() {
    const uint64_t rip = rd(F::GUEST_RIP);
    if (!vm_.pc()) return stop(Outcome::Halted, "HLT at rip=0x%lx with no interrupt source to wake it", rip);
    if (!(rd(F::GUEST_RFLAGS) & x86::rflags::IF))
        return stop(Outcome::Halted, "HLT with interrupts off at rip=0x%lx: nothing can wake it", rip);
    // With interrupts on, only the 8254 can wake it (no device here receives
    // input): an unarmed PIT or a masked IRQ0, and nothing already pending,
    // is a halt for good, not an idle that would keep the run alive forever.
    devices::LegacyPlatform& legacy = vm_.legacy();
    const uint64_t now = vm_.platform_now(guest_tsc(x86::rdtsc()));
    legacy.advance(now);
    if (!legacy.can_wake(now))
        return stop(Outcome::Halted, "HLT at rip=0x%lx with no interrupt that could wake it (%s)", rip,
                    legacy.next_event(now) == devices::i8254::kNever ? "the PIT is not running" : "IRQ0 is masked");
    skip_instruction();
    ++stats_.halts;
    halted_ = true;
    return Next::Yield;
}

bool Vcpu::woken() {
    if (!halted_) return true;
    devices::LegacyPlatform& legacy = vm_.legacy();
    legacy.advance(vm_.platform_now(guest_tsc(x86::rdtsc())));
    if (!legacy.interrupt_pending()) return false;
    halted_ = false;
    return true;
}

}  // namespace hv
