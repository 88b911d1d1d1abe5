// Specification of hv::mb2::parse, the checked Multiboot2 boot information
// parser. Every input lives in a heap buffer of exactly the size passed as
// max_size, so the AddressSanitizer build turns any read past it into a
// failure.
#include "kernel/multiboot2.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace hv::mb2 {
namespace {

using Bytes = std::vector<uint8_t>;

void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put64(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void patch32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
Bytes str(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes cstr(const std::string& s) {
  Bytes b = str(s);
  b.push_back(0);
  return b;
}

struct Entry {
  uint64_t base, length;
  uint32_t type;
};

// Assembles boot information tag by tag, as a boot loader would. Sizes are
// computed unless overridden, which is how the malformed inputs are made.
class InfoBuilder {
 public:
  static constexpr uint32_t kNoOverride = 0xdeadbeef;

  // Offset the next tag will be placed at, for checking ParseError::offset.
  size_t next_offset() const { return 8 + tags_.size(); }

  InfoBuilder& tag(uint32_t type, const Bytes& body, uint32_t size = kNoOverride) {
    put32(tags_, type);
    put32(tags_, size == kNoOverride ? static_cast<uint32_t>(8 + body.size()) : size);
    tags_.insert(tags_.end(), body.begin(), body.end());
    while (tags_.size() % 8 != 0) tags_.push_back(0);
    return *this;
  }
  InfoBuilder& cmdline(const std::string& s) { return tag(1, cstr(s)); }
  InfoBuilder& loader_name(const std::string& s) { return tag(2, cstr(s)); }
  InfoBuilder& module(uint32_t start, uint32_t end, const std::string& name) {
    Bytes body;
    put32(body, start);
    put32(body, end);
    Bytes n = cstr(name);
    body.insert(body.end(), n.begin(), n.end());
    return tag(3, body);
  }
  InfoBuilder& mmap(const std::vector<Entry>& entries, uint32_t entry_size = 24) {
    Bytes body;
    put32(body, entry_size);
    put32(body, 0);  // entry_version
    for (const Entry& e : entries) {
      const size_t start = body.size();
      put64(body, e.base);
      put64(body, e.length);
      put32(body, e.type);
      // Reserved and newer fields; an entry_size below 20 cuts the entry short.
      body.resize(start + entry_size, 0);
    }
    return tag(6, body);
  }
  InfoBuilder& end() { return tag(0, {}); }

  Bytes build() const {
    Bytes b;
    put32(b, static_cast<uint32_t>(8 + tags_.size()));
    put32(b, 0);
    b.insert(b.end(), tags_.begin(), tags_.end());
    return b;
  }

 private:
  Bytes tags_;
};

const std::vector<Entry> kSmallMap = {{0, 0x9fc00, 1}, {0x100000, 0x7ee0000, 1}};

// BootInfo is several KiB; keep it off the test's stack.
struct Parsed {
  std::unique_ptr<BootInfo> info = std::make_unique<BootInfo>();
  ParseError err{};
};

Parsed parse_bytes(const Bytes& b, uint32_t magic = kBootloaderMagic) {
  Parsed p;
  p.err = parse(magic, b.empty() ? nullptr : b.data(), b.size(), *p.info);
  return p;
}

// Whether a string returned by the parser lies within the buffer, including
// its terminator.
bool string_inside(const char* s, const Bytes& b) {
  const auto* p = reinterpret_cast<const uint8_t*>(s);
  if (p < b.data() || p >= b.data() + b.size()) return false;
  return std::memchr(p, 0, static_cast<size_t>(b.data() + b.size() - p)) != nullptr;
}

#define EXPECT_PARSE_ERROR(parsed, message, at)  \
  do {                                           \
    EXPECT_STREQ((parsed).err.what, (message));  \
    EXPECT_EQ((parsed).err.offset, size_t{at});  \
  } while (0)

// --- Well-formed information ------------------------------------------------

TEST(Multiboot2Parse, ParsesCommandLineLoaderNameMemoryMapAndModulesExactly) {
  const std::vector<Entry> map = {
      {0x0, 0x9fc00, 1},          {0x9fc00, 0x400, 2},      {0xf0000, 0x10000, 2},
      {0x100000, 0xbfee0000, 1},  {0xbffe0000, 0x20000, 3}, {0xfec00000, 0x1000, 4},
      {0x100000000, 0x40000000, 1}, {0x140000000, 0x1000, 5}, {0x150000000, 0x1000, 0x1234},
  };
  InfoBuilder ib;
  ib.cmdline("serial=0x3f8 guest=linux")
      .loader_name("GRUB 2.06")
      .tag(21, str("unknown tag body"))  // load base address, skipped
      .mmap(map)
      .module(0x200000, 0x2a0000, "bzImage console=ttyS0")
      .module(0x2a0000, 0x2a0000, "")  // empty module, empty string: both legal
      .tag(8, Bytes(13, 0xab))          // odd size: padding must be honoured
      .end();
  const Bytes b = ib.build();

  const Parsed p = parse_bytes(b);
  ASSERT_TRUE(p.err.ok()) << p.err.what << " at " << p.err.offset;
  const BootInfo& bi = *p.info;
  EXPECT_STREQ(bi.cmdline, "serial=0x3f8 guest=linux");
  EXPECT_STREQ(bi.loader_name, "GRUB 2.06");
  EXPECT_TRUE(string_inside(bi.cmdline, b));
  EXPECT_TRUE(string_inside(bi.loader_name, b));
  EXPECT_EQ(bi.total_size, b.size());

  ASSERT_EQ(bi.region_count, map.size());
  for (size_t i = 0; i < map.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(bi.regions[i].base, map[i].base);
    EXPECT_EQ(bi.regions[i].length, map[i].length);
    EXPECT_EQ(static_cast<uint32_t>(bi.regions[i].type), map[i].type);
  }
  EXPECT_EQ(bi.regions[0].type, MemoryType::Available);
  EXPECT_EQ(bi.regions[1].type, MemoryType::Reserved);
  EXPECT_EQ(bi.regions[4].type, MemoryType::AcpiReclaimable);
  EXPECT_EQ(bi.regions[5].type, MemoryType::Nvs);
  EXPECT_EQ(bi.regions[7].type, MemoryType::Bad);

  ASSERT_EQ(bi.module_count, 2u);
  EXPECT_EQ(bi.modules[0].start, 0x200000u);
  EXPECT_EQ(bi.modules[0].end, 0x2a0000u);
  EXPECT_STREQ(bi.modules[0].name, "bzImage console=ttyS0");
  EXPECT_TRUE(string_inside(bi.modules[0].name, b));
  EXPECT_EQ(bi.modules[1].start, 0x2a0000u);
  EXPECT_EQ(bi.modules[1].end, 0x2a0000u);
  EXPECT_STREQ(bi.modules[1].name, "");
  EXPECT_TRUE(string_inside(bi.modules[1].name, b));
}

// A lab machine: most RAM above 4 GiB, lengths past 32 bits, and a
// firmware hole up high. Every field keeps all 64 bits.
TEST(Multiboot2Parse, KeepsRamFarAbove4GiBWithLengthsBeyond32Bits) {
  const std::vector<Entry> map = {
      {0x0, 0x9f000, 1},
      {0x100000, 0x7ff00000, 1},
      {0x100000000, 0x3f00000000, 1},    // 4 GiB .. 256 GiB: 252 GiB
      {0x4000000000, 0x1000000, 2},      // a reserved hole at 256 GiB
      {0x4001000000, 0x3fff000000, 1},   // up to 512 GiB
      {0xfd00000000, 0x300000000, 2},    // the HyperTransport hole below 1 TiB
  };
  const Parsed p = parse_bytes(InfoBuilder().mmap(map).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  ASSERT_EQ(p.info->region_count, map.size());
  EXPECT_EQ(p.info->regions[2].length, 0x3f00000000u);
  EXPECT_EQ(p.info->regions[4].base, 0x4001000000u);
  EXPECT_EQ(p.info->regions[4].base + p.info->regions[4].length, 512ull << 30);
  EXPECT_EQ(p.info->regions[5].type, MemoryType::Reserved);
}

TEST(Multiboot2Parse, ReportsAbsentCommandLineAndLoaderNameAsEmptyStrings) {
  const Parsed p = parse_bytes(InfoBuilder().mmap(kSmallMap).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  ASSERT_NE(p.info->cmdline, nullptr);
  ASSERT_NE(p.info->loader_name, nullptr);
  EXPECT_STREQ(p.info->cmdline, "");
  EXPECT_STREQ(p.info->loader_name, "");
  EXPECT_EQ(p.info->module_count, 0u);
  EXPECT_EQ(p.info->region_count, 2u);
}

TEST(Multiboot2Parse, AcceptsMemoryMapEntriesLargerThan24BytesAndReadsOnlyTheKnownFields) {
  const Parsed p = parse_bytes(InfoBuilder().mmap(kSmallMap, 40).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  ASSERT_EQ(p.info->region_count, 2u);
  EXPECT_EQ(p.info->regions[1].base, 0x100000u);
  EXPECT_EQ(p.info->regions[1].length, 0x7ee0000u);
  EXPECT_EQ(p.info->regions[1].type, MemoryType::Available);
}

TEST(Multiboot2Parse, AcceptsAnEmptyMemoryMap) {
  const Parsed p = parse_bytes(InfoBuilder().mmap({}).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  EXPECT_EQ(p.info->region_count, 0u);
}

TEST(Multiboot2Parse, AcceptsInformationAtAnUnalignedAddress) {
  const Bytes good = InfoBuilder().cmdline("x").mmap(kSmallMap).end().build();
  Bytes shifted(good.size() + 3);
  std::memcpy(shifted.data() + 3, good.data(), good.size());
  auto info = std::make_unique<BootInfo>();
  const ParseError err = parse(kBootloaderMagic, shifted.data() + 3, good.size(), *info);
  ASSERT_TRUE(err.ok()) << err.what;
  EXPECT_STREQ(info->cmdline, "x");
  EXPECT_EQ(info->regions[1].base, 0x100000u);
}

TEST(Multiboot2Parse, IgnoresBytesAfterTheEndTag) {
  Bytes b = InfoBuilder().mmap(kSmallMap).end().tag(0xffff, Bytes(4, 0)).build();
  const Parsed p = parse_bytes(b);
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  EXPECT_EQ(p.info->total_size, b.size());
}

TEST(Multiboot2Parse, AcceptsExactlyTheMaximumNumberOfRegionsAndModules) {
  InfoBuilder ib;
  ib.mmap(std::vector<Entry>(kMaxMemoryRegions, Entry{0x100000, 0x1000, 1}));
  for (size_t i = 0; i < kMaxModules; ++i) ib.module(0x1000, 0x2000, "m");
  const Parsed p = parse_bytes(ib.end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  EXPECT_EQ(p.info->region_count, kMaxMemoryRegions);
  EXPECT_EQ(p.info->module_count, kMaxModules);
}

// --- The fixed header -------------------------------------------------------

TEST(Multiboot2Parse, RejectsWrongMagic) {
  const Bytes b = InfoBuilder().mmap(kSmallMap).end().build();
  EXPECT_PARSE_ERROR(parse_bytes(b, 0x2badb002), error::kBadMagic, 0);
}

TEST(Multiboot2Parse, RejectsNullPointer) {
  BootInfo info;
  const ParseError err = parse(kBootloaderMagic, nullptr, 4096, info);
  EXPECT_STREQ(err.what, error::kNullInfo);
}

TEST(Multiboot2Parse, RejectsBufferTooSmallForTheFixedHeader) {
  EXPECT_PARSE_ERROR(parse_bytes(Bytes(7, 0)), error::kBufferTooSmall, 0);
}

TEST(Multiboot2Parse, RejectsTotalSizeBelow16) {
  Bytes b = InfoBuilder().end().build();  // 16 bytes: header + end tag
  patch32(b, 0, 8);
  EXPECT_PARSE_ERROR(parse_bytes(b), error::kTotalSizeTooSmall, 0);
}

TEST(Multiboot2Parse, RejectsTotalSizeBeyondMaxSize) {
  Bytes b = InfoBuilder().mmap(kSmallMap).end().build();
  patch32(b, 0, static_cast<uint32_t>(b.size() + 8));
  EXPECT_PARSE_ERROR(parse_bytes(b), error::kTotalSizeTooLarge, 0);
}

TEST(Multiboot2Parse, RejectsTotalSizeNotAMultipleOf8) {
  Bytes b = InfoBuilder().mmap(kSmallMap).end().build();
  patch32(b, 0, static_cast<uint32_t>(b.size() - 4));
  EXPECT_PARSE_ERROR(parse_bytes(b), error::kTotalSizeUnaligned, 0);
}

// --- Tag framing ------------------------------------------------------------

TEST(Multiboot2Parse, RejectsTagSmallerThanItsHeader) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(21, Bytes(8, 0), 4).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTagTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsTagOfSizeZeroInsteadOfLoopingForever) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(21, {}, 0).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTagTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsTagRunningPastTotalSize) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(21, Bytes(8, 0), 32).end();  // claims 32 bytes, only 24 remain
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTagPastEnd, bad);
}

TEST(Multiboot2Parse, RejectsTagWhoseSizeWouldWrapTheOffset) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(21, {}, 0xfffffff8).mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTagPastEnd, bad);
}

TEST(Multiboot2Parse, RejectsMissingEndTag) {
  const Bytes b = InfoBuilder().mmap(kSmallMap).build();
  EXPECT_PARSE_ERROR(parse_bytes(b), error::kMissingEndTag, b.size());
}

TEST(Multiboot2Parse, RejectsEndTagWhoseSizeIsNot8) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(0, Bytes(8, 0), 16);
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kBadEndTag, bad);
}

TEST(Multiboot2Parse, SkipsUnknownTagTypes) {
  const Parsed p = parse_bytes(
      InfoBuilder().tag(4, Bytes(8, 1)).tag(9, Bytes(20, 2)).mmap(kSmallMap).tag(0x7fffffff, {}).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  EXPECT_EQ(p.info->region_count, 2u);
}

// --- ACPI RSDP tags ---------------------------------------------------------

Bytes rsdp_bytes(size_t n, uint8_t fill) { return Bytes(n, fill); }

TEST(Multiboot2Parse, RecordsBothRsdpCopiesInsideTheBuffer) {
  InfoBuilder ib;
  ib.mmap(kSmallMap).tag(14, rsdp_bytes(20, 0x11)).tag(15, rsdp_bytes(36, 0x22)).end();
  const Bytes b = ib.build();
  const Parsed p = parse_bytes(b);
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  ASSERT_NE(p.info->acpi_old.data, nullptr);
  ASSERT_NE(p.info->acpi_new.data, nullptr);
  EXPECT_EQ(p.info->acpi_old.size, 20u);
  EXPECT_EQ(p.info->acpi_new.size, 36u);
  EXPECT_EQ(p.info->acpi_old.data[0], 0x11);
  EXPECT_EQ(p.info->acpi_new.data[35], 0x22);
  EXPECT_GE(p.info->acpi_old.data, b.data());
  EXPECT_LE(p.info->acpi_new.data + p.info->acpi_new.size, b.data() + b.size());
}

TEST(Multiboot2Parse, ReportsAbsentRsdpTagsAsNull) {
  const Parsed p = parse_bytes(InfoBuilder().mmap(kSmallMap).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  EXPECT_EQ(p.info->acpi_old.data, nullptr);
  EXPECT_EQ(p.info->acpi_new.data, nullptr);
  EXPECT_EQ(p.info->acpi_old.size, 0u);
  EXPECT_EQ(p.info->acpi_new.size, 0u);
}

TEST(Multiboot2Parse, AcceptsAnRsdpTagLongerThanTheStructure) {
  // An ACPI 2.0+ RSDP may declare a length beyond 36 bytes; the tag then
  // carries all of it, and the ACPI code reads the length field.
  const Parsed p = parse_bytes(InfoBuilder().tag(15, rsdp_bytes(44, 3)).mmap(kSmallMap).end().build());
  ASSERT_TRUE(p.err.ok()) << p.err.what;
  EXPECT_EQ(p.info->acpi_new.size, 44u);
}

TEST(Multiboot2Parse, RejectsAnOldRsdpTagTooSmallForAnRsdp) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(14, rsdp_bytes(19, 0)).mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kAcpiOldTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsAnEmptyOldRsdpTag) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(14, {}).mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kAcpiOldTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsANewRsdpTagHoldingOnlyARevision0Rsdp) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(15, rsdp_bytes(20, 0)).mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kAcpiNewTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsAnRsdpTagRunningPastTotalSize) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(15, rsdp_bytes(36, 0), 8 + 36 + 64).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTagPastEnd, bad);
}

TEST(Multiboot2Parse, RejectsDuplicateRsdpTags) {
  {
    InfoBuilder ib;
    ib.mmap(kSmallMap).tag(14, rsdp_bytes(20, 0));
    const size_t bad = ib.next_offset();
    ib.tag(14, rsdp_bytes(20, 0)).end();
    EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kDuplicateAcpiOld, bad);
  }
  {
    InfoBuilder ib;
    ib.tag(15, rsdp_bytes(36, 0)).mmap(kSmallMap);
    const size_t bad = ib.next_offset();
    ib.tag(15, rsdp_bytes(36, 0)).end();
    EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kDuplicateAcpiNew, bad);
  }
}

// --- Memory map -------------------------------------------------------------

TEST(Multiboot2Parse, RejectsInformationWithoutAMemoryMap) {
  InfoBuilder ib;
  ib.cmdline("x");
  const size_t end = ib.next_offset();
  EXPECT_PARSE_ERROR(parse_bytes(ib.end().build()), error::kNoMemoryMap, end);
}

TEST(Multiboot2Parse, RejectsMemoryMapTagTooSmallForItsHeader) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(6, Bytes{24, 0, 0, 0}).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kMmapTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsMemoryMapEntrySizeBelow24) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.mmap(kSmallMap, 16).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kMmapEntrySizeTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsMemoryMapEntrySizeOfZero) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.mmap({}, 0).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kMmapEntrySizeTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsMemoryMapEntrySizeNotAMultipleOf8) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.mmap(kSmallMap, 28).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kMmapEntrySizeUnaligned, bad);
}

TEST(Multiboot2Parse, RejectsMemoryMapBodyThatIsNotAWholeNumberOfEntries) {
  Bytes body;
  put32(body, 24);
  put32(body, 0);
  put64(body, 0x100000);
  put64(body, 0x1000);
  put32(body, 1);
  put32(body, 0);
  put64(body, 0x200000);  // second entry cut short
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(6, body).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kMmapPartialEntry, bad);
}

TEST(Multiboot2Parse, RejectsMoreRegionsThanFitInsteadOfTruncating) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.mmap(std::vector<Entry>(kMaxMemoryRegions + 1, Entry{0x100000, 0x1000, 1})).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTooManyRegions, bad);
}

TEST(Multiboot2Parse, RejectsASecondMemoryMap) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kDuplicateMmap, bad);
}

// --- Strings ----------------------------------------------------------------

TEST(Multiboot2Parse, RejectsCommandLineNotTerminatedInsideItsTag) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  // 8 bytes of text and no NUL; the zero padding that follows is outside
  // the tag and must not count as a terminator.
  ib.tag(1, str("abcdefg!")).mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kCmdlineUnterminated, bad);
}

TEST(Multiboot2Parse, RejectsCommandLineTagWithNoRoomForATerminator) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(1, {}).mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kCmdlineUnterminated, bad);
}

TEST(Multiboot2Parse, RejectsCommandLineWhosePaddingHidesTheMissingTerminator) {
  InfoBuilder ib;
  const size_t bad = ib.next_offset();
  ib.tag(1, str("abc")).mmap(kSmallMap).end();  // padded with zeros to 16
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kCmdlineUnterminated, bad);
}

TEST(Multiboot2Parse, RejectsBootLoaderNameNotTerminatedInsideItsTag) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(2, str("GRUB")).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kLoaderNameUnterminated, bad);
}

TEST(Multiboot2Parse, RejectsASecondCommandLine) {
  InfoBuilder ib;
  ib.cmdline("a");
  const size_t bad = ib.next_offset();
  ib.cmdline("b").mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kDuplicateCmdline, bad);
}

TEST(Multiboot2Parse, RejectsASecondBootLoaderName) {
  InfoBuilder ib;
  ib.loader_name("a");
  const size_t bad = ib.next_offset();
  ib.loader_name("b").mmap(kSmallMap).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kDuplicateLoaderName, bad);
}

// --- Modules ----------------------------------------------------------------

TEST(Multiboot2Parse, RejectsModuleStringNotTerminatedInsideItsTag) {
  Bytes body;
  put32(body, 0x1000);
  put32(body, 0x2000);
  Bytes name = str("guest");
  body.insert(body.end(), name.begin(), name.end());
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(3, body).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kModuleNameUnterminated, bad);
}

TEST(Multiboot2Parse, RejectsModuleTagTooSmallForStartAndEnd) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  const size_t bad = ib.next_offset();
  ib.tag(3, Bytes{0, 0x10, 0, 0}).end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kModuleTooSmall, bad);
}

TEST(Multiboot2Parse, RejectsModuleWhoseStartIsBeyondItsEnd) {
  InfoBuilder ib;
  ib.mmap(kSmallMap).module(0x1000, 0x2000, "ok");
  const size_t bad = ib.next_offset();
  ib.module(0x3000, 0x2fff, "backwards").end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kModuleStartAfterEnd, bad);
}

TEST(Multiboot2Parse, RejectsMoreModulesThanFitInsteadOfTruncating) {
  InfoBuilder ib;
  ib.mmap(kSmallMap);
  for (size_t i = 0; i < kMaxModules; ++i) ib.module(0x1000, 0x2000, "m");
  const size_t bad = ib.next_offset();
  ib.module(0x1000, 0x2000, "one too many").end();
  EXPECT_PARSE_ERROR(parse_bytes(ib.build()), error::kTooManyModules, bad);
}

// --- Robustness -------------------------------------------------------------

Bytes full_info() {
  return InfoBuilder()
      .cmdline("serial guest=linux")
      .loader_name("GRUB 2.06")
      .mmap(kSmallMap)
      .module(0x200000, 0x300000, "kernel")
      .module(0x300000, 0x380000, "initrd")
      .end()
      .build();
}

TEST(Multiboot2Parse, NeverAcceptsAnInfoTruncatedAtAnyLength) {
  const Bytes good = full_info();
  ASSERT_TRUE(parse_bytes(good).err.ok());
  for (size_t len = 0; len < good.size(); ++len) {
    SCOPED_TRACE(len);
    // Cut the buffer but keep the header's claim: must notice the overrun.
    Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_FALSE(parse_bytes(cut).err.ok());
    // Cut the buffer and make the header agree: every tag boundary is
    // examined, and the end tag is never there.
    if (len >= 4) {
      patch32(cut, 0, static_cast<uint32_t>(len));
      EXPECT_FALSE(parse_bytes(cut).err.ok());
    }
  }
}

TEST(Multiboot2Parse, NeverReadsOutsideTheBufferWhateverItsBytesAre) {
  const Bytes good = full_info();
  std::mt19937 rng(12345);
  for (int round = 0; round < 20000; ++round) {
    Bytes b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const size_t at = rng() % b.size();
      // Favour values that tend to matter: sizes, zeros and all-ones.
      switch (rng() % 4) {
        case 0: b[at] = 0; break;
        case 1: b[at] = 0xff; break;
        case 2: b[at] = static_cast<uint8_t>(b[at] ^ (1u << (rng() % 8))); break;
        default: b[at] = static_cast<uint8_t>(rng()); break;
      }
    }
    const Parsed p = parse_bytes(b);
    if (!p.err.ok()) {
      EXPECT_LT(p.err.offset, b.size() + 1);
      continue;
    }
    // Whatever was accepted must be internally consistent.
    const BootInfo& bi = *p.info;
    ASSERT_LE(bi.region_count, kMaxMemoryRegions);
    ASSERT_LE(bi.module_count, kMaxModules);
    ASSERT_LE(bi.total_size, b.size());
    if (bi.cmdline[0] != '\0') {
      EXPECT_TRUE(string_inside(bi.cmdline, b));
    }
    if (bi.loader_name[0] != '\0') {
      EXPECT_TRUE(string_inside(bi.loader_name, b));
    }
    for (size_t i = 0; i < bi.module_count; ++i) {
      EXPECT_TRUE(string_inside(bi.modules[i].name, b));
      EXPECT_LE(bi.modules[i].start, bi.modules[i].end);
    }
  }
}

}  // namespace
}  // namespace hv::mb2
