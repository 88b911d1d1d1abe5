// Loading a Linux bzImage into a guest: header checks, layout, zero page,
// boot GDT and identity map. See loader.h and docs/linux-guest.md.
#include "kernel/linux/loader.h"

#include "kernel/format.h"

namespace hv::linuxboot {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t k1G = 1ull << 30;

// Descriptors of the boot GDT: flat 64-bit code (L=1, D=0) and flat data.
constexpr uint64_t kCodeDescriptor = 0x00af9b000000ffffull;
constexpr uint64_t kDataDescriptor = 0x00cf93000000ffffull;

// Page-table entry bits.
constexpr uint64_t kPtePresent = 1u << 0, kPteWrite = 1u << 1, kPteLarge = 1u << 7;

uint64_t load(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

void store(uint8_t* p, size_t n, uint64_t v) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void zero(uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = 0;
}

size_t length(const char* s) {
  size_t n = 0;
  if (s)
    while (s[n]) ++n;
  return n;
}

// The segment-attribute (VMCS access-rights) form of a descriptor.
uint32_t access_rights(uint64_t descriptor) {
  return static_cast<uint32_t>(((descriptor >> 40) & 0xff) | (((descriptor >> 52) & 0xf) << 12));
}

constexpr uint64_t mib(uint64_t bytes) { return bytes >> 20; }

// Refuses with a formatted reason; returns a layout with ok == false.
LinuxLayout refuse(char* why, size_t why_len, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
LinuxLayout refuse(char* why, size_t why_len, const char* fmt, ...) {
  if (why && why_len) {
    va_list ap;
    va_start(ap, fmt);
    vformat(why, why_len, fmt, ap);
    va_end(ap);
  }
  LinuxLayout l{};
  l.ok = false;
  return l;
}

EntryState entry_state(uint64_t kernel_gpa) {
  EntryState e{};
  e.rip = kernel_gpa + 0x200;
  e.rsi = kZeroPageGpa;
  e.rsp = kStackTop;
  e.rflags = 0x2;
  e.cr0 = 0x80000031;  // PG, NE, ET, PE
  e.cr3 = kPageTablesGpa;
  e.cr4 = 0x20;    // PAE
  e.efer = 0x500;  // LME, LMA
  const Segment code{kBootCs, 0, 0xffffffff, access_rights(kCodeDescriptor)};
  const Segment data{kBootDs, 0, 0xffffffff, access_rights(kDataDescriptor)};
  e.cs = code;
  e.ds = e.es = e.ss = e.fs = e.gs = data;
  e.tr = Segment{0, 0, 0x67, 0x8b};         // present, busy 64-bit TSS
  e.ldtr = Segment{0, 0, 0, 1u << 16};      // unusable
  e.gdt_base = kGdtGpa;
  e.gdt_limit = kGdtSize - 1;
  e.idt_base = 0;
  e.idt_limit = 0;
  return e;
}

}  // namespace

bool has_boot_magic(const uint8_t* image, size_t image_len) {
  return image && image_len >= hdr::kHeader + 4 && load(image + hdr::kBootFlag, 2) == kBootFlagValue &&
         load(image + hdr::kHeader, 4) == kHeaderMagic;
}

LinuxLayout plan(const uint8_t* image, size_t image_len, uint64_t mem, size_t initrd_len,
                 const char* cmdline, char* why, size_t why_len) {
  if (why && why_len) why[0] = '\0';
  if (image_len < hdr::kMinEnd)
    return refuse(why, why_len, "bzImage: truncated: %zu bytes, the setup header needs 0x%zx",
                  image_len, hdr::kMinEnd);
  if (!image) return refuse(why, why_len, "bzImage: no image");

  const auto u8 = [&](size_t off) { return static_cast<uint8_t>(load(image + off, 1)); };
  const auto u16 = [&](size_t off) { return static_cast<uint16_t>(load(image + off, 2)); };
  const auto u32 = [&](size_t off) { return static_cast<uint32_t>(load(image + off, 4)); };

  SetupHeader h{};
  if (u16(hdr::kBootFlag) != kBootFlagValue)
    return refuse(why, why_len, "bzImage: boot_flag is 0x%04x, not 0xaa55", u16(hdr::kBootFlag));
  if (u32(hdr::kHeader) != kHeaderMagic)
    return refuse(why, why_len, "bzImage: no \"HdrS\" magic at 0x202 (0x%08x)", u32(hdr::kHeader));
  h.version = u16(hdr::kVersion);
  if (h.version < kMinVersion)
    return refuse(why, why_len, "bzImage: boot protocol %u.%02u, 2.12 or later needed",
                  h.version >> 8, h.version & 0xff);
  h.header_end = 0x202 + size_t{u8(hdr::kJump + 1)};
  if (h.header_end < hdr::kMinEnd || h.header_end > hdr::kMaxEnd)
    return refuse(why, why_len, "bzImage: setup header ends at 0x%zx (byte 0x201), not in [0x%zx, 0x%zx]",
                  h.header_end, hdr::kMinEnd, hdr::kMaxEnd);
  if (h.header_end > image_len)
    return refuse(why, why_len, "bzImage: truncated: %zu bytes, the setup header ends at 0x%zx",
                  image_len, h.header_end);

  h.setup_sects = u8(hdr::kSetupSects);
  const uint64_t setup_sects = h.setup_sects ? h.setup_sects : 4;
  const uint64_t pm_offset = (setup_sects + 1) * 512;
  if (pm_offset >= image_len)
    return refuse(why, why_len,
                  "bzImage: truncated: %zu bytes, no protected-mode kernel after %u setup sectors",
                  image_len, static_cast<unsigned>(setup_sects));
  const uint64_t pm_size = image_len - pm_offset;

  h.loadflags = u8(hdr::kLoadflags);
  if (!(h.loadflags & kLoadedHigh))
    return refuse(why, why_len, "bzImage: loadflags 0x%02x: LOADED_HIGH clear (a zImage)", h.loadflags);
  h.xloadflags = u16(hdr::kXloadflags);
  if (!(h.xloadflags & kXlfKernel64))
    return refuse(why, why_len, "bzImage: xloadflags 0x%04x: XLF_KERNEL_64 clear, no 64-bit entry",
                  h.xloadflags);
  h.relocatable_kernel = u8(hdr::kRelocatable);
  if (!h.relocatable_kernel) return refuse(why, why_len, "bzImage: relocatable_kernel is 0");
  h.kernel_alignment = u32(hdr::kKernelAlignment);
  if (h.kernel_alignment < kPage || (h.kernel_alignment & (h.kernel_alignment - 1)))
    return refuse(why, why_len, "bzImage: kernel_alignment 0x%x is not a power of two >= 4 KiB",
                  h.kernel_alignment);
  h.pref_address = load(image + hdr::kPrefAddress, 8);
  if (h.pref_address < kHighRamStart)
    return refuse(why, why_len, "bzImage: pref_address 0x%llx is below 1 MiB",
                  static_cast<unsigned long long>(h.pref_address));
  if (h.pref_address % h.kernel_alignment)
    return refuse(why, why_len, "bzImage: pref_address 0x%llx is not a multiple of kernel_alignment 0x%x",
                  static_cast<unsigned long long>(h.pref_address), h.kernel_alignment);
  h.syssize = u32(hdr::kSyssize);
  if (h.syssize == 0) return refuse(why, why_len, "bzImage: syssize is 0");
  if (uint64_t{h.syssize} * 16 > pm_size)
    return refuse(why, why_len,
                  "bzImage: truncated: syssize says %llu bytes of protected-mode kernel, the image has %llu",
                  static_cast<unsigned long long>(uint64_t{h.syssize} * 16),
                  static_cast<unsigned long long>(pm_size));
  h.init_size = u32(hdr::kInitSize);
  if (uint64_t{h.init_size} < uint64_t{h.syssize} * 16)
    return refuse(why, why_len, "bzImage: init_size 0x%x is smaller than the kernel (syssize * 16 = 0x%llx)",
                  h.init_size, static_cast<unsigned long long>(uint64_t{h.syssize} * 16));
  h.cmdline_size = u32(hdr::kCmdlineSize);
  h.initrd_addr_max = u32(hdr::kInitrdAddrMax);

  // The guest: the kernel at its preferred address, with room for init_size.
  const uint64_t span = h.init_size > pm_size ? h.init_size : pm_size;
  // Compared before it is added: a pref_address near 2^64 would wrap the end
  // below mem and pass every later check.
  if (h.pref_address > ~uint64_t{0} - span)
    return refuse(why, why_len, "bzImage: pref_address 0x%llx plus init_size wraps around 2^64",
                  static_cast<unsigned long long>(h.pref_address));
  const uint64_t kernel_end = h.pref_address + span;
  if (mem % kPage)
    return refuse(why, why_len, "guest memory of 0x%llx bytes is not a whole number of pages",
                  static_cast<unsigned long long>(mem));
  if (kernel_end > mem)
    return refuse(why, why_len,
                  "guest memory of %llu MiB too small: the kernel needs [0x%llx, 0x%llx) (init_size %llu MiB at %llu MiB)",
                  static_cast<unsigned long long>(mib(mem)), static_cast<unsigned long long>(h.pref_address),
                  static_cast<unsigned long long>(kernel_end), static_cast<unsigned long long>(mib(span)),
                  static_cast<unsigned long long>(mib(h.pref_address)));
  if (kernel_end > kIdentityMapMax)
    return refuse(why, why_len, "bzImage: the kernel would end at 0x%llx, above the 4 GiB identity map",
                  static_cast<unsigned long long>(kernel_end));

  const size_t cmdline_len = length(cmdline);
  if (cmdline_len > h.cmdline_size || cmdline_len > kCmdlineMax)
    return refuse(why, why_len, "command line of %zu bytes is longer than the kernel's cmdline_size %u%s",
                  cmdline_len, cmdline_len > h.cmdline_size ? h.cmdline_size : static_cast<uint32_t>(kCmdlineMax),
                  cmdline_len > h.cmdline_size ? "" : " (the loader's limit)");

  uint64_t initrd_gpa = 0;
  if (initrd_len) {
    const uint64_t limit = uint64_t{h.initrd_addr_max} + 1;
    const uint64_t top = (mem < limit ? mem : limit) & ~(kPage - 1);
    if (initrd_len > top || ((top - initrd_len) & ~(kPage - 1)) < kernel_end)
      return refuse(why, why_len,
                    "initrd of %zu bytes does not fit between the kernel's end 0x%llx and 0x%llx (RAM top, initrd_addr_max 0x%x)",
                    initrd_len, static_cast<unsigned long long>(kernel_end),
                    static_cast<unsigned long long>(top), h.initrd_addr_max);
    initrd_gpa = (top - initrd_len) & ~(kPage - 1);
  }

  LinuxLayout l{};
  l.ok = true;
  l.hdr = h;
  l.mem = mem;
  l.kernel_gpa = h.pref_address;
  l.kernel_file_offset = pm_offset;
  l.kernel_file_size = pm_size;
  l.kernel_end = kernel_end;
  l.initrd_gpa = initrd_gpa;
  l.initrd_len = initrd_len;
  l.zero_page_gpa = kZeroPageGpa;
  l.cmdline_gpa = kCmdlineGpa;
  l.gdt_gpa = kGdtGpa;
  l.page_tables_gpa = kPageTablesGpa;
  l.cmdline_len = cmdline_len;
  const uint64_t mapped = (mem + k2M - 1) & ~(k2M - 1);
  l.identity_map_end = mapped < kIdentityMapMax ? mapped : kIdentityMapMax;
  l.e820[0] = {0, kLowRamEnd, kE820Ram};
  l.e820[1] = {kLowRamEnd, kHighRamStart - kLowRamEnd, kE820Reserved};
  l.e820[2] = {kHighRamStart, mem - kHighRamStart, kE820Ram};
  l.e820_entries = 3;
  l.entry = entry_state(l.kernel_gpa);
  return l;
}

bool write_zero_page(const LinuxLayout& l, const uint8_t* image, size_t image_len, uint8_t* out,
                     size_t out_len) {
  if (!l.ok || !image || !out || out_len < zp::kSize || image_len < l.hdr.header_end) return false;
  zero(out, zp::kSize);
  for (size_t i = hdr::kSetupSects; i < l.hdr.header_end; ++i) out[i] = image[i];
  out[hdr::kTypeOfLoader] = kTypeOfLoaderUndefined;
  store(out + hdr::kCmdLinePtr, 4, l.cmdline_gpa);
  store(out + zp::kExtCmdLinePtr, 4, l.cmdline_gpa >> 32);
  store(out + hdr::kRamdiskImage, 4, l.initrd_gpa);
  store(out + zp::kExtRamdiskImage, 4, l.initrd_gpa >> 32);
  store(out + hdr::kRamdiskSize, 4, l.initrd_len);
  store(out + zp::kExtRamdiskSize, 4, l.initrd_len >> 32);
  out[zp::kE820Entries] = static_cast<uint8_t>(l.e820_entries);
  for (size_t i = 0; i < l.e820_entries; ++i) {
    uint8_t* e = out + zp::kE820Table + 20 * i;
    store(e, 8, l.e820[i].addr);
    store(e + 8, 8, l.e820[i].size);
    store(e + 16, 4, l.e820[i].type);
  }
  return true;
}

bool write_cmdline(const LinuxLayout& l, const char* cmdline, uint8_t* out, size_t out_len) {
  if (!l.ok || !out || out_len < l.cmdline_len + 1 || length(cmdline) != l.cmdline_len) return false;
  for (size_t i = 0; i < l.cmdline_len; ++i) out[i] = static_cast<uint8_t>(cmdline[i]);
  out[l.cmdline_len] = 0;
  return true;
}

bool write_gdt(const LinuxLayout& l, uint8_t* out, size_t out_len) {
  if (!l.ok || !out || out_len < kGdtSize) return false;
  zero(out, kGdtSize);
  store(out + kBootCs, 8, kCodeDescriptor);
  store(out + kBootDs, 8, kDataDescriptor);
  return true;
}

bool build_page_tables(const LinuxLayout& l, uint8_t* out, size_t out_len) {
  if (!l.ok || !out || out_len < kPageTablesSize) return false;
  zero(out, kPageTablesSize);
  const uint64_t pml4 = l.page_tables_gpa, pdpt = pml4 + kPage, pd = pdpt + kPage;
  store(out, 8, pdpt | kPtePresent | kPteWrite);
  for (uint64_t gpa = 0; gpa < l.identity_map_end; gpa += k2M) {
    const uint64_t gib = gpa / k1G;
    if (gpa % k1G == 0) store(out + (pdpt - pml4) + 8 * gib, 8, (pd + gib * kPage) | kPtePresent | kPteWrite);
    store(out + (pd - pml4) + gib * kPage + 8 * ((gpa % k1G) / k2M), 8,
          gpa | kPtePresent | kPteWrite | kPteLarge);
  }
  return true;
}

bool write_boot_block(const LinuxLayout& l, const uint8_t* image, size_t image_len,
                      const char* cmdline, uint8_t* out, size_t out_len) {
  if (!l.ok || !out || out_len < kBootBlockSize || !image || image_len < l.hdr.header_end ||
      length(cmdline) != l.cmdline_len)
    return false;
  zero(out, kBootBlockSize);
  return write_gdt(l, out + (l.gdt_gpa - kBootBlockGpa), kGdtSize) &&
         write_zero_page(l, image, image_len, out + (l.zero_page_gpa - kBootBlockGpa), zp::kSize) &&
         write_cmdline(l, cmdline, out + (l.cmdline_gpa - kBootBlockGpa), kPageTablesGpa - kCmdlineGpa) &&
         build_page_tables(l, out + (l.page_tables_gpa - kBootBlockGpa), kPageTablesSize);
}

}  // namespace hv::linuxboot
