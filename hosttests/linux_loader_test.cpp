// The Linux loader's pure parts (kernel/linux/loader.*): setup-header checks,
// the guest layout, the zero page and its e820 table, the boot GDT, the
// identity map and the 64-bit entry state. On synthetic images, and on the
// real Debian cloud kernel when `tools/hv setup` has fetched it.
#include "kernel/linux/loader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifndef HV_LINUX_PAYLOAD_DIR
#define HV_LINUX_PAYLOAD_DIR ""
#endif

namespace hv::linuxboot {
namespace {

constexpr uint64_t MiB = 1ull << 20;

uint64_t rd(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
void wr(uint8_t* p, size_t n, uint64_t v) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// A bzImage as a 6.1 kernel's header has it (protocol 2.15, header ending at
// 0x26c), with 4 setup sectors and 64 KiB of protected-mode kernel.
struct Image {
  std::vector<uint8_t> b;
  static constexpr size_t kSetupSects = 4;
  static constexpr size_t kPmOffset = (kSetupSects + 1) * 512;
  static constexpr size_t kPmSize = 64 * 1024;

  Image() : b(kPmOffset + kPmSize) {
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + 3);  // no zero runs
    set(hdr::kSetupSects, 1, kSetupSects);
    set(hdr::kSyssize, 4, kPmSize / 16);
    set(hdr::kBootFlag, 2, 0xaa55);
    set(hdr::kJump, 2, 0x6aeb);  // jmp short: header ends at 0x202 + 0x6a = 0x26c
    set(hdr::kHeader, 4, 0x53726448);
    set(hdr::kVersion, 2, 0x020f);
    set(hdr::kTypeOfLoader, 1, 0);
    set(hdr::kLoadflags, 1, 0x01);
    set(hdr::kRamdiskImage, 4, 0);
    set(hdr::kRamdiskSize, 4, 0);
    set(hdr::kCmdLinePtr, 4, 0);
    set(hdr::kInitrdAddrMax, 4, 0x7fffffff);
    set(hdr::kKernelAlignment, 4, 0x200000);
    set(hdr::kRelocatable, 1, 1);
    set(hdr::kXloadflags, 2, 0x7f);
    set(hdr::kCmdlineSize, 4, 0x7ff);
    set(hdr::kPrefAddress, 8, 0x1000000);
    set(hdr::kInitSize, 4, 8 * MiB);
  }
  void set(size_t off, size_t n, uint64_t v) { wr(b.data() + off, n, v); }
  const uint8_t* data() const { return b.data(); }
  size_t size() const { return b.size(); }
};

struct Planned {
  LinuxLayout l;
  std::string why;
};

Planned run(const uint8_t* image, size_t len, uint64_t mem = 64 * MiB, size_t initrd = 0,
            const char* cmdline = "console=ttyS0") {
  char why[256];
  std::memset(why, 'x', sizeof why);
  LinuxLayout l = plan(image, len, mem, initrd, cmdline, why, sizeof why);
  return {l, why};
}
Planned run(const Image& img, uint64_t mem = 64 * MiB, size_t initrd = 0,
            const char* cmdline = "console=ttyS0") {
  // A copy of exactly the image's size, so that ASan sees any read past it.
  std::vector<uint8_t> exact(img.b);
  return run(exact.data(), exact.size(), mem, initrd, cmdline);
}

// Expects a refusal whose reason contains `word`.
void refused(const Planned& p, const char* word) {
  EXPECT_FALSE(p.l.ok);
  EXPECT_NE(p.why.find(word), std::string::npos) << "reason: " << p.why << "; expected: " << word;
}

// Walks the identity map the way the CPU would: the tables are at
// l.page_tables_gpa in the guest, in `pt` here. Returns the GPA `va` maps
// to, or ~0 if unmapped.
uint64_t translate(const LinuxLayout& l, const std::vector<uint8_t>& pt, uint64_t va) {
  auto entry = [&](uint64_t table_gpa, size_t index) -> uint64_t {
    const uint64_t off = table_gpa - l.page_tables_gpa + 8 * index;
    if (off + 8 > pt.size()) ADD_FAILURE() << "table at 0x" << std::hex << table_gpa << " outside the buffer";
    return off + 8 > pt.size() ? 0 : rd(pt.data() + off, 8);
  };
  const uint64_t mask = 0x000ffffffffff000ull;
  uint64_t e = entry(l.entry.cr3, (va >> 39) & 511);
  if (!(e & 1)) return ~0ull;
  e = entry(e & mask, (va >> 30) & 511);
  if (!(e & 1) || (e & 0x80)) return ~0ull;  // no 1 GiB pages here
  e = entry(e & mask, (va >> 21) & 511);
  if (!(e & 1) || !(e & 0x80) || !(e & 2)) return ~0ull;
  return (e & 0x000fffffffe00000ull) | (va & 0x1fffff);
}

// ---- Accepted images and the layout ----------------------------------------

TEST(LinuxLoader, PlansTheSyntheticImage) {
  Image img;
  const size_t initrd = 1 * MiB + 123;
  Planned p = run(img, 64 * MiB, initrd, "console=ttyS0 hv.mode=check");
  ASSERT_TRUE(p.l.ok) << p.why;
  EXPECT_EQ(p.why, "");
  const LinuxLayout& l = p.l;
  EXPECT_EQ(l.hdr.version, 0x020f);
  EXPECT_EQ(l.hdr.header_end, 0x26cu);
  EXPECT_EQ(l.kernel_gpa, 0x1000000u);
  EXPECT_EQ(l.kernel_file_offset, Image::kPmOffset);
  EXPECT_EQ(l.kernel_file_size, Image::kPmSize);
  EXPECT_EQ(l.kernel_end, 0x1000000u + 8 * MiB);
  EXPECT_EQ(l.initrd_len, initrd);
  EXPECT_EQ(l.initrd_gpa, (64 * MiB - initrd) & ~0xfffull);
  EXPECT_EQ(l.initrd_gpa % 4096, 0u);
  EXPECT_LE(l.initrd_gpa + l.initrd_len, 64 * MiB);
  EXPECT_EQ(l.cmdline_len, strlen("console=ttyS0 hv.mode=check"));
  EXPECT_EQ(l.identity_map_end, 64 * MiB);
  // The boot block lies in low RAM, below the reserved hole and the kernel.
  for (uint64_t gpa : {l.zero_page_gpa, l.cmdline_gpa, l.gdt_gpa, l.page_tables_gpa}) {
    EXPECT_GE(gpa, kBootBlockGpa);
    EXPECT_LT(gpa, kBootBlockGpa + kBootBlockSize);
    EXPECT_EQ(gpa % 4096, 0u);
  }
  EXPECT_LE(kBootBlockGpa + kBootBlockSize, kLowRamEnd);
}

TEST(LinuxLoader, E820CoversTheGuestRamExactly) {
  for (uint64_t mem : {24 * MiB, 64 * MiB, 128 * MiB, 3 * 1024 * MiB + 4096, 6 * 1024 * MiB}) {
    Planned p = run(Image{}, mem);
    ASSERT_TRUE(p.l.ok) << p.why;
    const LinuxLayout& l = p.l;
    ASSERT_EQ(l.e820_entries, 3u);
    EXPECT_EQ(l.e820[0].addr, 0u);
    EXPECT_EQ(l.e820[0].size, 0x9f000u);
    EXPECT_EQ(l.e820[0].type, kE820Ram);
    EXPECT_EQ(l.e820[1].addr, 0x9f000u);
    EXPECT_EQ(l.e820[1].size, 0x100000u - 0x9f000u);
    EXPECT_EQ(l.e820[1].type, kE820Reserved);
    EXPECT_EQ(l.e820[2].addr, 0x100000u);
    EXPECT_EQ(l.e820[2].addr + l.e820[2].size, mem);
    EXPECT_EQ(l.e820[2].type, kE820Ram);
    for (size_t i = 1; i < l.e820_entries; ++i) EXPECT_EQ(l.e820[i - 1].addr + l.e820[i - 1].size, l.e820[i].addr);
  }
}

TEST(LinuxLoader, SetupSectsZeroMeansFour) {
  Image img;
  img.set(hdr::kSetupSects, 1, 0);  // 4 sectors, as the synthetic image has
  Planned p = run(img);
  ASSERT_TRUE(p.l.ok) << p.why;
  EXPECT_EQ(p.l.kernel_file_offset, 5u * 512);
  EXPECT_EQ(p.l.hdr.setup_sects, 0);
}

TEST(LinuxLoader, NoInitrdAndNoCommandLine) {
  Image img;
  Planned p = run(img, 64 * MiB, 0, nullptr);
  ASSERT_TRUE(p.l.ok) << p.why;
  EXPECT_EQ(p.l.initrd_gpa, 0u);
  EXPECT_EQ(p.l.initrd_len, 0u);
  EXPECT_EQ(p.l.cmdline_len, 0u);
  std::vector<uint8_t> zp(zp::kSize);
  ASSERT_TRUE(write_zero_page(p.l, img.data(), img.size(), zp.data(), zp.size()));
  EXPECT_EQ(rd(&zp[hdr::kRamdiskImage], 4), 0u);
  EXPECT_EQ(rd(&zp[hdr::kRamdiskSize], 4), 0u);
  std::vector<uint8_t> cl(1, 0xee);
  ASSERT_TRUE(write_cmdline(p.l, nullptr, cl.data(), cl.size()));
  EXPECT_EQ(cl[0], 0);
  EXPECT_TRUE(write_cmdline(p.l, "", cl.data(), cl.size()));
}

// ---- The zero page -----------------------------------------------------------

TEST(LinuxLoader, ZeroPageFromTheSyntheticHeader) {
  Image img;
  const char* cmdline = "console=ttyS0,115200 quiet";
  const size_t initrd = 3 * MiB + 5;
  Planned p = run(img, 128 * MiB, initrd, cmdline);
  ASSERT_TRUE(p.l.ok) << p.why;
  std::vector<uint8_t> zp(zp::kSize, 0xcc);
  ASSERT_TRUE(write_zero_page(p.l, img.data(), img.size(), zp.data(), zp.size()));

  // The setup header [0x1f1, 0x26c) is the image's, but for the loader's fields.
  auto loader_field = [](size_t i) {
    auto in = [i](size_t off, size_t n) { return i >= off && i < off + n; };
    return in(hdr::kTypeOfLoader, 1) || in(hdr::kCmdLinePtr, 4) || in(hdr::kRamdiskImage, 4) ||
           in(hdr::kRamdiskSize, 4);
  };
  for (size_t i = 0x1f1; i < 0x26c; ++i)
    if (!loader_field(i)) {
      EXPECT_EQ(zp[i], img.b[i]) << "offset 0x" << std::hex << i;
    }
  EXPECT_EQ(zp[hdr::kTypeOfLoader], 0xff);
  EXPECT_EQ(rd(&zp[hdr::kCmdLinePtr], 4), kCmdlineGpa);
  EXPECT_EQ(rd(&zp[zp::kExtCmdLinePtr], 4), 0u);
  const uint64_t initrd_gpa = (128 * MiB - initrd) & ~0xfffull;
  EXPECT_EQ(rd(&zp[hdr::kRamdiskImage], 4), initrd_gpa);
  EXPECT_EQ(rd(&zp[zp::kExtRamdiskImage], 4), 0u);
  EXPECT_EQ(rd(&zp[hdr::kRamdiskSize], 4), initrd);
  EXPECT_EQ(rd(&zp[zp::kExtRamdiskSize], 4), 0u);
  EXPECT_EQ(rd(&zp[hdr::kBootFlag], 2), 0xaa55u);
  EXPECT_EQ(rd(&zp[hdr::kHeader], 4), 0x53726448u);
  EXPECT_EQ(rd(&zp[hdr::kPrefAddress], 8), 0x1000000u);

  // The e820 table: three entries, 20 bytes each.
  EXPECT_EQ(zp[zp::kE820Entries], 3);
  const uint64_t want[3][3] = {{0, 0x9f000, 1}, {0x9f000, 0x61000, 2}, {0x100000, 127 * MiB, 1}};
  for (size_t i = 0; i < 3; ++i) {
    const uint8_t* e = &zp[zp::kE820Table + 20 * i];
    EXPECT_EQ(rd(e, 8), want[i][0]) << "entry " << i;
    EXPECT_EQ(rd(e + 8, 8), want[i][1]) << "entry " << i;
    EXPECT_EQ(rd(e + 16, 4), want[i][2]) << "entry " << i;
  }

  // Everything else is zero: the image's bytes past the header end (0x26c)
  // are not copied, the sentinel stays 0, no screen_info, no other entries.
  for (size_t i = 0; i < zp::kSize; ++i) {
    const bool header = i >= 0x1f1 && i < 0x26c;
    const bool e820 = i >= zp::kE820Table && i < zp::kE820Table + 3 * 20;
    const bool ours = i == zp::kE820Entries || (i >= zp::kExtRamdiskImage && i < zp::kExtCmdLinePtr + 4);
    if (!header && !e820 && !ours) {
      EXPECT_EQ(zp[i], 0) << "offset 0x" << std::hex << i;
    }
  }
  EXPECT_EQ(zp[zp::kSentinel], 0);
}

TEST(LinuxLoader, TheHeaderLengthComesFromTheJumpByte) {
  Image img;
  img.set(hdr::kJump + 1, 1, 0x66);  // a 2.12-era header ending at 0x268
  Planned p = run(img);
  ASSERT_TRUE(p.l.ok) << p.why;
  std::vector<uint8_t> zp(zp::kSize);
  ASSERT_TRUE(write_zero_page(p.l, img.data(), img.size(), zp.data(), zp.size()));
  EXPECT_EQ(rd(&zp[0x264], 4), rd(&img.b[0x264], 4));
  EXPECT_EQ(rd(&zp[0x268], 4), 0u);  // kernel_info_offset is not there: not copied
}

TEST(LinuxLoader, CommandLineGdtAndBootBlock) {
  Image img;
  const char* cmdline = "console=ttyS0 hv.mode=shell";
  Planned p = run(img, 64 * MiB, 4096, cmdline);
  ASSERT_TRUE(p.l.ok) << p.why;
  std::vector<uint8_t> block(kBootBlockSize, 0xcc);
  ASSERT_TRUE(write_boot_block(p.l, img.data(), img.size(), cmdline, block.data(), block.size()));

  const uint8_t* cl = &block[kCmdlineGpa - kBootBlockGpa];
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(cl)), cmdline);
  const uint8_t* gdt = &block[kGdtGpa - kBootBlockGpa];
  EXPECT_EQ(rd(gdt, 8), 0u);
  EXPECT_EQ(rd(gdt + 8, 8), 0u);
  EXPECT_EQ(rd(gdt + kBootCs, 8), 0x00af9b000000ffffull);  // 64-bit code, flat
  EXPECT_EQ(rd(gdt + kBootDs, 8), 0x00cf93000000ffffull);  // data, flat, 4 GiB

  std::vector<uint8_t> zp(zp::kSize);
  ASSERT_TRUE(write_zero_page(p.l, img.data(), img.size(), zp.data(), zp.size()));
  EXPECT_EQ(0, std::memcmp(zp.data(), &block[kZeroPageGpa - kBootBlockGpa], zp::kSize));
  std::vector<uint8_t> pt(kPageTablesSize);
  ASSERT_TRUE(build_page_tables(p.l, pt.data(), pt.size()));
  EXPECT_EQ(0, std::memcmp(pt.data(), &block[kPageTablesGpa - kBootBlockGpa], kPageTablesSize));
  for (uint64_t i = kStackGpa; i < kStackTop; ++i) EXPECT_EQ(block[i - kBootBlockGpa], 0);
}

// ---- The identity map and the entry state ----------------------------------

TEST(LinuxLoader, IdentityMapCoversRamUpTo4GiB) {
  struct Case {
    uint64_t mem, mapped;
  } cases[] = {{64 * MiB, 64 * MiB},
               {25 * MiB, 26 * MiB},  // rounded up to 2 MiB
               {1024 * MiB, 1024 * MiB},
               {3 * 1024 * MiB + 2 * MiB, 3 * 1024 * MiB + 2 * MiB},
               {8 * 1024 * MiB, 4 * 1024 * MiB}};
  for (const Case& c : cases) {
    Planned p = run(Image{}, c.mem, 1 * MiB);
    ASSERT_TRUE(p.l.ok) << p.why;
    const LinuxLayout& l = p.l;
    EXPECT_EQ(l.identity_map_end, c.mapped);
    std::vector<uint8_t> pt(kPageTablesSize);
    ASSERT_TRUE(build_page_tables(l, pt.data(), pt.size()));
    for (uint64_t va : {uint64_t{0}, kZeroPageGpa, kCmdlineGpa + 17, kStackTop - 8, l.kernel_gpa,
                        l.kernel_gpa + 0x200, l.kernel_end - 1, l.initrd_gpa, c.mem - 1, c.mapped - 1})
      if (va < c.mapped) {
        EXPECT_EQ(translate(l, pt, va), va) << "va 0x" << std::hex << va << " mem 0x" << c.mem;
      }
    EXPECT_EQ(translate(l, pt, c.mapped), ~0ull) << "mem 0x" << std::hex << c.mem;
    EXPECT_EQ(translate(l, pt, 1ull << 39), ~0ull);
  }
}

TEST(LinuxLoader, EntryStateIsThe64BitBootProtocols) {
  Planned p = run(Image{});
  ASSERT_TRUE(p.l.ok) << p.why;
  const EntryState& e = p.l.entry;
  EXPECT_EQ(e.rip, 0x1000000u + 0x200);
  EXPECT_EQ(e.rsi, kZeroPageGpa);
  EXPECT_EQ(e.rsp, kStackTop);
  EXPECT_EQ(e.rflags, 0x2u);  // IF clear
  EXPECT_EQ(e.cr0 & 0x80000001u, 0x80000001u);  // PG, PE
  EXPECT_EQ(e.cr4 & 0x20u, 0x20u);  // PAE
  EXPECT_EQ(e.efer, 0x500u);  // LME, LMA
  EXPECT_EQ(e.cr3, kPageTablesGpa);
  EXPECT_EQ(e.cs.selector, 0x10);
  EXPECT_EQ(e.cs.access_rights, 0xa09bu);  // G, L, P, S, execute/read, accessed
  EXPECT_EQ(e.cs.limit, 0xffffffffu);
  for (const Segment* s : {&e.ds, &e.es, &e.ss, &e.fs, &e.gs}) {
    EXPECT_EQ(s->selector, 0x18);
    EXPECT_EQ(s->base, 0u);
    EXPECT_EQ(s->limit, 0xffffffffu);
    EXPECT_EQ(s->access_rights, 0xc093u);  // G, D/B, P, S, read/write, accessed
  }
  EXPECT_EQ(e.tr.access_rights, 0x8bu);
  EXPECT_EQ(e.ldtr.access_rights, 1u << 16);
  EXPECT_EQ(e.gdt_base, kGdtGpa);
  EXPECT_EQ(e.gdt_limit, 31);
  EXPECT_EQ(e.idt_limit, 0);
}

// ---- Refusals: each header field -------------------------------------------

TEST(LinuxLoader, RefusesEachBadHeaderField) {
  struct Case {
    const char* what;
    size_t off, n;
    uint64_t value;
    const char* word;
  } cases[] = {
      {"boot_flag", hdr::kBootFlag, 2, 0x55aa, "boot_flag is 0x55aa"},
      {"boot_flag zero", hdr::kBootFlag, 2, 0, "boot_flag"},
      {"magic", hdr::kHeader, 4, 0x53726449, "HdrS"},
      {"version 2.11", hdr::kVersion, 2, 0x020b, "boot protocol 2.11"},
      {"version 1.0", hdr::kVersion, 2, 0x0100, "2.12 or later"},
      {"header end short", hdr::kJump + 1, 1, 0x65, "setup header ends at 0x267"},
      {"header end long", hdr::kJump + 1, 1, 0x8f, "setup header ends at 0x291"},
      {"loadflags", hdr::kLoadflags, 1, 0x80, "LOADED_HIGH"},
      {"xloadflags", hdr::kXloadflags, 2, 0x7e, "XLF_KERNEL_64"},
      {"relocatable", hdr::kRelocatable, 1, 0, "relocatable_kernel"},
      {"alignment 0", hdr::kKernelAlignment, 4, 0, "kernel_alignment"},
      {"alignment not power of 2", hdr::kKernelAlignment, 4, 0x300000, "kernel_alignment 0x300000"},
      {"alignment below 4K", hdr::kKernelAlignment, 4, 0x800, "kernel_alignment"},
      {"pref_address low", hdr::kPrefAddress, 8, 0x80000, "below 1 MiB"},
      {"pref_address unaligned", hdr::kPrefAddress, 8, 0x1100000, "not a multiple of kernel_alignment"},
      {"pref_address huge", hdr::kPrefAddress, 8, 0x100000000000ull, "too small"},
      {"pref_address near 2^64", hdr::kPrefAddress, 8, 0xffffffffffe00000ull, "wraps around 2^64"},
      {"syssize 0", hdr::kSyssize, 4, 0, "syssize is 0"},
      {"syssize past the file", hdr::kSyssize, 4, Image::kPmSize / 16 + 1, "truncated: syssize"},
      {"syssize huge", hdr::kSyssize, 4, 0xffffffff, "truncated"},
      {"init_size 0", hdr::kInitSize, 4, 0, "init_size 0x0"},
      {"init_size below the kernel", hdr::kInitSize, 4, Image::kPmSize - 16, "smaller than the kernel"},
      {"init_size past RAM", hdr::kInitSize, 4, 0xfff00000, "guest memory of 64 MiB too small"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Image img;
    img.set(c.off, c.n, c.value);
    refused(run(img), c.word);
  }
}

TEST(LinuxLoader, BootMagicIsWhatMakesALinuxImage) {
  Image img;
  EXPECT_TRUE(has_boot_magic(img.data(), img.size()));
  EXPECT_TRUE(has_boot_magic(img.data(), hdr::kHeader + 4)) << "truncated: still Linux, plan() refuses it";
  EXPECT_FALSE(has_boot_magic(img.data(), hdr::kHeader + 3));
  EXPECT_FALSE(has_boot_magic(nullptr, 0));
  img.set(hdr::kHeader, 4, 0x53726449);
  EXPECT_FALSE(has_boot_magic(img.data(), img.size()));
}

TEST(LinuxLoader, RefusesNoImage) { refused(run(nullptr, 1 << 20), "no image"); }

TEST(LinuxLoader, RefusesTruncatedImages) {
  Image img;
  ASSERT_TRUE(run(img).l.ok);
  // Every length short of the whole image is refused, never read past (ASan).
  for (size_t len = 0; len < img.size(); len += (len < 0x400 ? 1 : 97)) {
    std::vector<uint8_t> cut(img.b.begin(), img.b.begin() + len);
    Planned p = run(cut.data(), cut.size());
    EXPECT_FALSE(p.l.ok) << "length " << len;
    EXPECT_NE(p.why.find("truncated"), std::string::npos) << "length " << len << ": " << p.why;
  }
  std::vector<uint8_t> cut(img.b.begin(), img.b.end() - 1);
  refused(run(cut.data(), cut.size()), "truncated: syssize says 65536 bytes");
  cut.assign(img.b.begin(), img.b.begin() + 0x267);
  refused(run(cut.data(), cut.size()), "truncated: 615 bytes, the setup header needs 0x268");
  cut.assign(img.b.begin(), img.b.begin() + 0x26b);
  refused(run(cut.data(), cut.size()), "the setup header ends at 0x26c");
  cut.assign(img.b.begin(), img.b.begin() + Image::kPmOffset);
  refused(run(cut.data(), cut.size()), "no protected-mode kernel after 4 setup sectors");
}

// ---- Refusals: the guest, the initrd, the command line ------------------------

TEST(LinuxLoader, RefusesTooLittleMemory) {
  Image img;  // needs [16 MiB, 24 MiB)
  EXPECT_TRUE(run(img, 24 * MiB).l.ok);
  refused(run(img, 24 * MiB - 4096), "guest memory of 23 MiB too small: the kernel needs [0x1000000, 0x1800000)");
  refused(run(img, 8 * MiB), "too small");
  refused(run(img, 0), "too small");
  refused(run(img, 64 * MiB + 1), "not a whole number of pages");
}

TEST(LinuxLoader, InitrdGoesAtTheTopBelowInitrdAddrMax) {
  Image img;
  img.set(hdr::kInitrdAddrMax, 4, 48 * MiB - 1);
  Planned p = run(img, 128 * MiB, 5 * MiB + 1);
  ASSERT_TRUE(p.l.ok) << p.why;
  EXPECT_EQ(p.l.initrd_gpa, (48 * MiB - (5 * MiB + 1)) & ~0xfffull);
  EXPECT_LE(p.l.initrd_gpa + p.l.initrd_len - 1, 48 * MiB - 1);
  // initrd_addr_max not one below a page boundary: the top is rounded down.
  img.set(hdr::kInitrdAddrMax, 4, 48 * MiB + 100);
  p = run(img, 128 * MiB, 4096);
  ASSERT_TRUE(p.l.ok) << p.why;
  EXPECT_EQ(p.l.initrd_gpa, 48 * MiB - 4096);
}

TEST(LinuxLoader, RefusesAnInitrdThatDoesNotFit) {
  Image img;  // kernel in [16 MiB, 24 MiB)
  EXPECT_TRUE(run(img, 64 * MiB, 40 * MiB).l.ok);  // exactly [24 MiB, 64 MiB)
  refused(run(img, 64 * MiB, 40 * MiB + 1),
          "initrd of 41943041 bytes does not fit between the kernel's end 0x1800000 and 0x4000000");
  refused(run(img, 64 * MiB, 64 * MiB), "initrd");
  refused(run(img, 64 * MiB, SIZE_MAX), "initrd");
  img.set(hdr::kInitrdAddrMax, 4, 24 * MiB + 4095);  // one page above the kernel
  EXPECT_TRUE(run(img, 64 * MiB, 4096).l.ok);
  refused(run(img, 64 * MiB, 4097), "initrd_addr_max 0x1800fff");
}

TEST(LinuxLoader, RefusesACommandLineLongerThanCmdlineSize) {
  Image img;  // cmdline_size 2047
  std::string s(2047, 'a');
  EXPECT_TRUE(run(img, 64 * MiB, 0, s.c_str()).l.ok);
  s += 'a';
  refused(run(img, 64 * MiB, 0, s.c_str()), "command line of 2048 bytes is longer than the kernel's cmdline_size 2047");
  img.set(hdr::kCmdlineSize, 4, 0);
  refused(run(img, 64 * MiB, 0, "a"), "cmdline_size 0");
  EXPECT_TRUE(run(img, 64 * MiB, 0, "").l.ok);
  // A kernel that takes more than the boot block holds: the loader's limit.
  img.set(hdr::kCmdlineSize, 4, 0x100000);
  s.assign(4095, 'b');
  EXPECT_TRUE(run(img, 64 * MiB, 0, s.c_str()).l.ok);
  s += 'b';
  refused(run(img, 64 * MiB, 0, s.c_str()), "the loader's limit");
}

TEST(LinuxLoader, WritersRefuseBadArguments) {
  Image img;
  Planned bad = run(img, 1 * MiB);
  ASSERT_FALSE(bad.l.ok);
  std::vector<uint8_t> buf(kBootBlockSize, 0xcc);
  EXPECT_FALSE(write_zero_page(bad.l, img.data(), img.size(), buf.data(), buf.size()));
  EXPECT_FALSE(write_cmdline(bad.l, "console=ttyS0", buf.data(), buf.size()));
  EXPECT_FALSE(write_gdt(bad.l, buf.data(), buf.size()));
  EXPECT_FALSE(build_page_tables(bad.l, buf.data(), buf.size()));
  EXPECT_FALSE(write_boot_block(bad.l, img.data(), img.size(), "console=ttyS0", buf.data(), buf.size()));
  for (uint8_t b : buf) ASSERT_EQ(b, 0xcc);  // nothing written

  Planned p = run(img);
  ASSERT_TRUE(p.l.ok);
  EXPECT_FALSE(write_zero_page(p.l, img.data(), img.size(), buf.data(), zp::kSize - 1));
  EXPECT_FALSE(write_zero_page(p.l, img.data(), 0x200, buf.data(), buf.size()));
  EXPECT_FALSE(write_cmdline(p.l, "console=ttyS0", buf.data(), 13));       // no room for the NUL
  EXPECT_FALSE(write_cmdline(p.l, "console=ttyS1 x", buf.data(), buf.size()));  // not plan()'s
  EXPECT_FALSE(write_gdt(p.l, buf.data(), kGdtSize - 1));
  EXPECT_FALSE(build_page_tables(p.l, buf.data(), kPageTablesSize - 1));
  EXPECT_FALSE(write_boot_block(p.l, img.data(), img.size(), "console=ttyS0", buf.data(), kBootBlockSize - 1));
  EXPECT_FALSE(write_boot_block(p.l, img.data(), img.size(), "other", buf.data(), buf.size()));
  for (uint8_t b : buf) ASSERT_EQ(b, 0xcc);
}

TEST(LinuxLoader, WhyIsAlwaysTerminatedAndMayBeAbsent) {
  Image img;
  img.set(hdr::kBootFlag, 2, 0);
  char tiny[8];
  std::memset(tiny, 'x', sizeof tiny);
  EXPECT_FALSE(plan(img.data(), img.size(), 64 * MiB, 0, "", tiny, sizeof tiny).ok);
  EXPECT_EQ(std::string(tiny), "bzImage");
  EXPECT_FALSE(plan(img.data(), img.size(), 64 * MiB, 0, "", nullptr, 0).ok);
}

// ---- The real Debian cloud kernel ------------------------------------------

std::string payload_dir() {
  if (const char* env = std::getenv("HV_LINUX_PAYLOAD")) return env;
  return HV_LINUX_PAYLOAD_DIR;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

TEST(LinuxLoader, TheDebianCloudKernel) {
  const std::string path = payload_dir() + "/vmlinuz";
  std::vector<uint8_t> img = slurp(path);
  if (img.empty()) GTEST_SKIP() << "no Linux payload at " << path << ": run tools/hv setup";

  const std::string line = std::string(kFastCmdline) + " tsc_early_khz=50000 hv.mode=check";
  const char* cmdline = line.c_str();
  const size_t initrd = 2028280;  // about the project's initramfs
  Planned p = run(img.data(), img.size(), 128 * MiB, initrd, cmdline);
  ASSERT_TRUE(p.l.ok) << p.why;
  const LinuxLayout& l = p.l;
  EXPECT_GE(l.hdr.version, 0x020c);
  EXPECT_TRUE(l.hdr.xloadflags & kXlfKernel64);
  EXPECT_EQ(l.kernel_gpa, 0x1000000u);  // 16 MiB, 2 MiB aligned
  EXPECT_EQ(l.kernel_gpa % l.hdr.kernel_alignment, 0u);
  EXPECT_EQ(l.kernel_file_offset, (l.hdr.setup_sects + 1u) * 512);
  EXPECT_EQ(l.kernel_file_offset + l.kernel_file_size, img.size());
  EXPECT_GT(l.hdr.init_size, 40 * MiB);  // 51.5 MiB for 6.1.0-*-cloud-amd64
  EXPECT_GE(l.hdr.cmdline_size, 2047u);
  EXPECT_GE(l.initrd_gpa, l.kernel_end);
  EXPECT_LE(l.initrd_gpa + initrd, 128 * MiB);
  EXPECT_EQ(l.entry.rip, 0x1000200u);

  std::vector<uint8_t> block(kBootBlockSize);
  ASSERT_TRUE(write_boot_block(l, img.data(), img.size(), cmdline, block.data(), block.size()));
  const uint8_t* zp = &block[kZeroPageGpa - kBootBlockGpa];
  for (size_t i = 0x1f1; i < l.hdr.header_end; ++i)
    if (i != hdr::kTypeOfLoader && (i < hdr::kRamdiskImage || i >= hdr::kRamdiskImage + 8) &&
        (i < hdr::kCmdLinePtr || i >= hdr::kCmdLinePtr + 4)) {
      EXPECT_EQ(zp[i], img[i]) << "offset 0x" << std::hex << i;
    }
  EXPECT_EQ(zp[hdr::kTypeOfLoader], 0xff);
  EXPECT_EQ(rd(zp + hdr::kRamdiskImage, 4), l.initrd_gpa);
  EXPECT_EQ(rd(zp + hdr::kRamdiskSize, 4), initrd);
  EXPECT_EQ(zp[zp::kE820Entries], 3);
  EXPECT_EQ(rd(zp + zp::kE820Table + 40, 8) + rd(zp + zp::kE820Table + 48, 8), 128 * MiB);

  // linux-guest.md: 64 MiB is too little for this kernel (init_size past it).
  refused(run(img.data(), img.size(), 64 * MiB, initrd, cmdline), "guest memory of 64 MiB too small");
  // A truncated copy (the last byte of the kernel missing) is refused.
  const size_t cut = l.kernel_file_offset + uint64_t{l.hdr.syssize} * 16 - 1;
  refused(run(img.data(), cut, 128 * MiB, initrd, cmdline), "truncated");
}

}  // namespace
}  // namespace hv::linuxboot
