// Loading a Linux bzImage into a guest: the pure parts (docs/linux-guest.md).
//
// The x86 boot protocol (Documentation/arch/x86/boot.rst) with its 64-bit
// entry, and the zero page (zero-page.rst). plan() checks an image's setup
// header and decides where everything goes in a guest of `mem` bytes; the
// write_*() and build_page_tables() functions then fill byte buffers that the
// VM code copies to the guest-physical addresses the plan names; entry is the
// vCPU state to start in. Nothing here touches VMX or any guest: the image is
// untrusted input, read only inside [image, image + image_len), and every
// refusal says why in one line.
//
// Freestanding C++20 (no exceptions, RTTI or allocation), host-testable.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::linuxboot {

// ---- The boot protocol's numbers ------------------------------------------

// Offsets in the image, which are also the offsets in the zero page
// (struct boot_params) since the setup header sits at 0x1f1 in both.
namespace hdr {
inline constexpr size_t kSetupSects = 0x1f1;       // u8, 0 means 4
inline constexpr size_t kSyssize = 0x1f4;          // u32, 16-byte units
inline constexpr size_t kBootFlag = 0x1fe;         // u16, 0xaa55
inline constexpr size_t kJump = 0x200;             // u16; byte 0x201 + 0x202 = header end
inline constexpr size_t kHeader = 0x202;           // u32, "HdrS"
inline constexpr size_t kVersion = 0x206;          // u16
inline constexpr size_t kTypeOfLoader = 0x210;     // u8
inline constexpr size_t kLoadflags = 0x211;        // u8
inline constexpr size_t kRamdiskImage = 0x218;     // u32
inline constexpr size_t kRamdiskSize = 0x21c;      // u32
inline constexpr size_t kCmdLinePtr = 0x228;       // u32
inline constexpr size_t kInitrdAddrMax = 0x22c;    // u32
inline constexpr size_t kKernelAlignment = 0x230;  // u32
inline constexpr size_t kRelocatable = 0x234;      // u8
inline constexpr size_t kXloadflags = 0x236;       // u16
inline constexpr size_t kCmdlineSize = 0x238;      // u32
inline constexpr size_t kPrefAddress = 0x258;      // u64
inline constexpr size_t kInitSize = 0x260;         // u32
inline constexpr size_t kMinEnd = 0x268;           // protocol 2.12's header ends here
inline constexpr size_t kMaxEnd = 0x290;           // boot_params keeps the header below this
}  // namespace hdr

// Zero-page offsets outside the setup header (zero-page.rst).
namespace zp {
inline constexpr size_t kExtRamdiskImage = 0x0c0;  // u32, bits 63:32
inline constexpr size_t kExtRamdiskSize = 0x0c4;   // u32, bits 63:32
inline constexpr size_t kExtCmdLinePtr = 0x0c8;    // u32, bits 63:32
inline constexpr size_t kE820Entries = 0x1e8;      // u8
inline constexpr size_t kSentinel = 0x1ef;         // u8, must stay 0
inline constexpr size_t kE820Table = 0x2d0;        // 128 entries of 20 bytes
inline constexpr size_t kE820Max = 128;
inline constexpr size_t kSize = 4096;
}  // namespace zp

inline constexpr uint16_t kBootFlagValue = 0xaa55;
inline constexpr uint32_t kHeaderMagic = 0x53726448;  // "HdrS"
inline constexpr uint16_t kMinVersion = 0x020c;       // 2.12: xloadflags
inline constexpr uint8_t kLoadedHigh = 1u << 0;       // loadflags
inline constexpr uint16_t kXlfKernel64 = 1u << 0;     // xloadflags: has the 64-bit entry
inline constexpr uint8_t kTypeOfLoaderUndefined = 0xff;
inline constexpr uint32_t kE820Ram = 1, kE820Reserved = 2;

// The command line measured to boot Debian's cloud kernel fastest on this
// platform (../shared/linux-guest.md): the VM code appends tsc_early_khz=<the
// TSC rate it measured> (or reports the rate in CPUID 0x15/0x16), and the
// guest's own words, e.g. hv.mode=check (docs/linux-guest.md).
inline constexpr char kFastCmdline[] =
    "console=ttyS0,115200 quiet cryptomgr.notests acpi=off pci=off nokaslr mitigations=off "
    "8250.nr_uarts=1 io_delay=none";

// ---- Where things go -------------------------------------------------------

// The boot block: low guest memory that holds everything but the kernel and
// the initrd, at fixed addresses (the first page is left alone).
inline constexpr uint64_t kGdtGpa = 0x1000;          // 4 descriptors
inline constexpr uint64_t kZeroPageGpa = 0x2000;     // struct boot_params
inline constexpr uint64_t kCmdlineGpa = 0x3000;      // NUL-terminated, < 4 KiB
inline constexpr uint64_t kPageTablesGpa = 0x4000;   // PML4, PDPT, 4 PDs
inline constexpr uint64_t kStackGpa = 0xa000;        // 8 KiB, grows down from kStackTop
inline constexpr uint64_t kStackTop = 0xc000;
inline constexpr uint64_t kBootBlockGpa = kGdtGpa;
inline constexpr uint64_t kBootBlockSize = kStackTop - kBootBlockGpa;
inline constexpr size_t kGdtSize = 4 * 8;
inline constexpr size_t kCmdlineMax = 4095;          // bytes before the NUL, whatever cmdline_size says
inline constexpr size_t kPageTablesSize = 6 * 4096;
inline constexpr uint64_t kIdentityMapMax = 4ull << 30;  // the identity map covers at most 4 GiB

// The guest's memory map: [0, 0x9f000) RAM, [0x9f000, 0x100000) reserved
// (the EBDA, VGA and BIOS holes of a PC), [0x100000, mem) RAM.
inline constexpr uint64_t kLowRamEnd = 0x9f000;
inline constexpr uint64_t kHighRamStart = 0x100000;

// Boot GDT selectors the 64-bit protocol names (__BOOT_CS, __BOOT_DS).
inline constexpr uint16_t kBootCs = 0x10, kBootDs = 0x18;

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // kE820Ram or kE820Reserved
};

// A segment register as VM entry takes it. access_rights is in the Intel SDM's
// segment-attribute layout (the VMCS guest AR format): type 3:0, S 4, DPL 6:5,
// P 7, AVL 12, L 13, D/B 14, G 15, bit 16 = unusable; limit is in bytes.
struct Segment {
  uint16_t selector;
  uint64_t base;
  uint32_t limit;
  uint32_t access_rights;
};

// The state the 64-bit boot protocol asks for at the kernel's 64-bit entry:
// long mode with paging on an identity map, the boot GDT's flat segments
// (CS __BOOT_CS, DS/ES/SS __BOOT_DS), interrupts off, RSI = the zero page.
// General-purpose registers not named here are 0. cr0 holds PE, ET, NE and PG;
// the VM code adds whatever VMX fixes to 1 and keeps its own shadows.
struct EntryState {
  uint64_t rip;     // kernel load address + 0x200 (startup_64)
  uint64_t rsi;     // zero page GPA
  uint64_t rsp;     // top of a small stack in the boot block
  uint64_t rflags;  // 0x2: IF clear
  uint64_t cr0, cr3, cr4, efer;
  Segment cs, ds, es, ss, fs, gs;
  Segment tr, ldtr;  // a busy 64-bit TSS at 0 (VM entry needs one) and an unusable LDTR
  uint64_t gdt_base;
  uint16_t gdt_limit;
  uint64_t idt_base;
  uint16_t idt_limit;  // 0: no IDT; interrupts stay off until Linux loads its own
};

// The values of the setup header that plan() used.
struct SetupHeader {
  uint8_t setup_sects;  // as read (0 means 4)
  uint32_t syssize;
  uint16_t version;
  uint8_t loadflags;
  uint16_t xloadflags;
  uint8_t relocatable_kernel;
  uint32_t kernel_alignment;
  uint32_t cmdline_size;
  uint32_t initrd_addr_max;
  uint64_t pref_address;
  uint32_t init_size;
  size_t header_end;  // 0x202 + the byte at 0x201: the setup header is [0x1f1, header_end)
};

struct LinuxLayout {
  bool ok;  // false: the image or the request was refused, `why` says why
  SetupHeader hdr;
  uint64_t mem;  // the guest's RAM: [0, mem)

  // The protected-mode kernel: image bytes [kernel_file_offset,
  // kernel_file_offset + kernel_file_size) go to kernel_gpa; the kernel then
  // uses [kernel_gpa, kernel_end) while it decompresses (init_size).
  uint64_t kernel_gpa;
  uint64_t kernel_file_offset;  // (setup_sects + 1) * 512
  uint64_t kernel_file_size;
  uint64_t kernel_end;

  // The initrd (the module's bytes, copied as they are) at the top of RAM
  // below initrd_addr_max, page aligned; initrd_len 0: none, initrd_gpa 0.
  uint64_t initrd_gpa;
  uint64_t initrd_len;

  // The boot block's parts (fixed, see above) and the command line's length
  // without its NUL.
  uint64_t zero_page_gpa, cmdline_gpa, gdt_gpa, page_tables_gpa;
  size_t cmdline_len;
  uint64_t identity_map_end;  // [0, identity_map_end) is mapped with 2 MiB pages

  E820Entry e820[3];
  size_t e820_entries;

  EntryState entry;
};

// Checks `image` (a bzImage, image_len bytes) and plans a guest of `mem`
// bytes of RAM (a multiple of 4 KiB) with an initrd of initrd_len bytes (0:
// none) and the command line `cmdline` (nullptr: empty). On refusal the
// result has ok == false and `why` (why_len bytes, NUL-terminated) says why,
// e.g. "bzImage: boot_flag is 0x0000, not 0xaa55"; on success why is "".
// True when image_len bytes at image carry the boot protocol's magic numbers
// (boot_flag and "HdrS"): what makes a guest image a Linux one. plan() then
// checks everything else, truncation included.
bool has_boot_magic(const uint8_t* image, size_t image_len);

LinuxLayout plan(const uint8_t* image, size_t image_len, uint64_t mem, size_t initrd_len,
                 const char* cmdline, char* why, size_t why_len);

// Each of these fills `out` (out_len bytes, at least the size named) with
// what goes at the GPA the layout names, and returns false, writing nothing,
// when the layout is not ok or out is too small. The image and the command
// line must be the ones given to plan().
//
// The zero page (zp::kSize bytes, for zero_page_gpa): zeroed, the setup header
// copied from the image, type_of_loader 0xff, cmd_line_ptr, ramdisk_image and
// ramdisk_size (and their ext_ halves), the e820 table.
bool write_zero_page(const LinuxLayout& l, const uint8_t* image, size_t image_len, uint8_t* out,
                     size_t out_len);
// The command line with its NUL (cmdline_len + 1 bytes, for cmdline_gpa).
bool write_cmdline(const LinuxLayout& l, const char* cmdline, uint8_t* out, size_t out_len);
// The boot GDT (kGdtSize bytes, for gdt_gpa): null, null, __BOOT_CS (64-bit
// code), __BOOT_DS (flat data).
bool write_gdt(const LinuxLayout& l, uint8_t* out, size_t out_len);
// The identity map (kPageTablesSize bytes, for page_tables_gpa): a PML4, a
// PDPT and up to 4 page directories of 2 MiB pages covering [0,
// identity_map_end); entries hold absolute guest-physical addresses.
bool build_page_tables(const LinuxLayout& l, uint8_t* out, size_t out_len);
// All of the above in one buffer for [kBootBlockGpa, kBootBlockGpa +
// kBootBlockSize), the rest (the stack) zeroed: one copy into the guest.
bool write_boot_block(const LinuxLayout& l, const uint8_t* image, size_t image_len,
                      const char* cmdline, uint8_t* out, size_t out_len);

}  // namespace hv::linuxboot
