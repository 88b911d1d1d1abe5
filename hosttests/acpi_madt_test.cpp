// Specification of hv::x86::acpi::parse_madt, the MADT parser: firmware
// tables are untrusted, so every malformed table must be refused with a
// reason, never read past its end. Each input lives in a heap buffer of
// exactly its length, so the AddressSanitizer build catches any overread.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arch/x86/acpi.h"

namespace hv::x86::acpi {
namespace {

using Bytes = std::vector<uint8_t>;

void put(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

// A MADT built entry by entry; length and checksum are fixed up by build()
// unless a test breaks them on purpose afterwards.
class MadtBuilder {
 public:
  MadtBuilder& lapic(uint8_t uid, uint8_t id, uint32_t flags) {
    body_.insert(body_.end(), {0, 8, uid, id});
    put(body_, flags, 4);
    return *this;
  }
  MadtBuilder& x2apic(uint32_t id, uint32_t flags, uint32_t uid) {
    body_.insert(body_.end(), {9, 16, 0, 0});
    put(body_, id, 4);
    put(body_, flags, 4);
    put(body_, uid, 4);
    return *this;
  }
  MadtBuilder& override_base(uint64_t base) {
    body_.insert(body_.end(), {5, 12, 0, 0});
    put(body_, base, 8);
    return *this;
  }
  MadtBuilder& raw(const Bytes& e) {
    body_.insert(body_.end(), e.begin(), e.end());
    return *this;
  }
  Bytes build(uint32_t lapic_base = 0xfee00000, uint32_t flags = 1) const {
    Bytes t = {'A', 'P', 'I', 'C'};
    put(t, 0, 4);  // length, below
    t.push_back(5);  // revision
    t.push_back(0);  // checksum, below
    for (int i = 0; i < 26; ++i) t.push_back('x');  // OEM ID, table ID, revisions, creator
    put(t, lapic_base, 4);
    put(t, flags, 4);
    t.insert(t.end(), body_.begin(), body_.end());
    uint32_t len = uint32_t(t.size());
    for (int i = 0; i < 4; ++i) t[4 + i] = uint8_t(len >> (8 * i));
    fix_checksum(t);
    return t;
  }
  static void fix_checksum(Bytes& t) {
    t[9] = 0;
    uint8_t s = 0;
    for (uint8_t c : t) s = uint8_t(s + c);
    t[9] = uint8_t(-s);
  }

 private:
  Bytes body_;
};

struct Result {
  bool ok;
  std::unique_ptr<Madt> madt = std::make_unique<Madt>();
  std::string why;
};

Result parse(const Bytes& t) {
  Result r;
  auto copy = std::make_unique<uint8_t[]>(t.size());
  std::copy(t.begin(), t.end(), copy.get());
  char why[160] = "";
  r.ok = parse_madt(copy.get(), t.size(), *r.madt, why, sizeof why);
  r.why = why;
  return r;
}

TEST(AcpiMadt, ListsEnabledAndOnlineCapableProcessorsOfBothTypes) {
  Result r = parse(MadtBuilder()
                       .lapic(0, 0, lapic_flags::ENABLED)
                       .lapic(1, 1, lapic_flags::ENABLED)
                       .lapic(2, 2, 0)  // disabled, not online-capable: left out
                       .lapic(3, 3, lapic_flags::ONLINE_CAPABLE)
                       .raw({1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0})  // an I/O APIC: skipped
                       .x2apic(300, lapic_flags::ENABLED, 7)
                       .build(0xfee00000, 1));
  ASSERT_TRUE(r.ok) << r.why;
  const Madt& m = *r.madt;
  ASSERT_EQ(m.cpu_count, 4u);
  EXPECT_EQ(m.cpus[0].apic_id, 0u);
  EXPECT_EQ(m.cpus[1].apic_id, 1u);
  EXPECT_EQ(m.cpus[2].apic_id, 3u);
  EXPECT_TRUE(m.cpus[2].online_capable);
  EXPECT_FALSE(m.cpus[1].online_capable);
  EXPECT_EQ(m.cpus[3].apic_id, 300u);
  EXPECT_EQ(m.cpus[3].uid, 7u);
  EXPECT_EQ(m.lapic_base, 0xfee00000u);
  EXPECT_TRUE(m.pcat_compat);
  EXPECT_EQ(m.cpus_left_out, 0u);
}

TEST(AcpiMadt, TakesTheAddressOverrideAndListsACpuOnlyOnce) {
  Result r = parse(MadtBuilder()
                       .lapic(0, 5, lapic_flags::ENABLED)
                       .x2apic(5, lapic_flags::ENABLED, 0)
                       .override_base(0x1'0000'0000ull)
                       .build(0xfee00000, 0));
  ASSERT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.madt->cpu_count, 1u);
  EXPECT_EQ(r.madt->lapic_base, 0x1'0000'0000ull);
  EXPECT_FALSE(r.madt->pcat_compat);
}

TEST(AcpiMadt, CountsTheCpusBeyondKMaxCpusInsteadOfOverflowing) {
  MadtBuilder b;
  for (unsigned i = 0; i < kMaxCpus + 3; ++i) b.x2apic(i, lapic_flags::ENABLED, i);
  Result r = parse(b.build());
  ASSERT_TRUE(r.ok) << r.why;
  EXPECT_EQ(r.madt->cpu_count, kMaxCpus);
  EXPECT_EQ(r.madt->cpus_left_out, 3u);
}

TEST(AcpiMadt, RefusesATableWithoutAUsableProcessor) {
  Result r = parse(MadtBuilder().lapic(0, 0, 0).build());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.why.find("no enabled or online-capable processor"), std::string::npos) << r.why;
}

struct Bad {
  const char* name;
  Bytes table;
  const char* message;
};

Bytes with(Bytes t, size_t at, uint8_t v, bool refix = true) {
  t[at] = v;
  if (refix) MadtBuilder::fix_checksum(t);
  return t;
}

Bytes truncated(Bytes t, size_t n) {
  t.resize(n);
  return t;
}

std::vector<Bad> bad_tables() {
  const Bytes good = MadtBuilder().lapic(0, 0, 1).lapic(1, 1, 1).build();
  Bytes zero_len = MadtBuilder().lapic(0, 0, 1).raw({0x7f, 0}).build();
  Bytes short_lapic = MadtBuilder().lapic(0, 0, 1).raw({0, 6, 1, 1, 1, 0}).build();
  Bytes short_x2 = MadtBuilder().lapic(0, 0, 1).raw({9, 8, 0, 0, 1, 0, 0, 0}).build();
  Bytes short_override = MadtBuilder().lapic(0, 0, 1).raw({5, 4, 0, 0}).build();
  Bytes past_end = MadtBuilder().lapic(0, 0, 1).raw({0x7f, 40, 0, 0}).build();
  Bytes cut_header = MadtBuilder().lapic(0, 0, 1).raw({0x7f}).build();
  return {
      {"ShorterThanItsFixedPart", truncated(good, 40), "shorter than its fixed part"},
      {"WrongSignature", with(good, 0, 'X'), "signature is not APIC"},
      {"LengthFieldBeyondTheBuffer", truncated(good, good.size() - 8), "does not match"},
      {"BadChecksum", with(good, 50, 0x55, false), "checksum is wrong"},
      {"EntryOfLengthZero", zero_len, "has length 0"},
      {"LocalApicEntryTooShort", short_lapic, "local APIC entry"},
      {"X2ApicEntryTooShort", short_x2, "local x2APIC entry"},
      {"OverrideEntryTooShort", short_override, "APIC address override"},
      {"EntryRunningPastTheTable", past_end, "runs past the table"},
      {"EntryHeaderCutShort", cut_header, "cut short"},
  };
}

class AcpiMadtRejects : public ::testing::TestWithParam<Bad> {};

TEST_P(AcpiMadtRejects, WithAReason) {
  Result r = parse(GetParam().table);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.why.find(GetParam().message), std::string::npos) << "got: " << r.why;
}

INSTANTIATE_TEST_SUITE_P(AcpiMadt, AcpiMadtRejects, ::testing::ValuesIn(bad_tables()),
                         [](const ::testing::TestParamInfo<Bad>& i) { return std::string(i.param.name); });

// Every prefix of a good table and every single-byte corruption: refused or
// parsed, never a read outside the buffer (ASan) and never a CPU count above
// the capacity.
TEST(AcpiMadt, SurvivesEveryTruncationAndByteFlip) {
  const Bytes good = MadtBuilder().lapic(0, 0, 1).x2apic(9, 1, 2).override_base(0xfee00000).lapic(1, 1, 2).build();
  for (size_t n = 0; n <= good.size(); ++n) parse(truncated(good, n));
  for (size_t i = 0; i < good.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      Bytes t = good;
      t[i] = uint8_t(t[i] ^ (1 << bit));
      MadtBuilder::fix_checksum(t);
      Result r = parse(t);
      if (r.ok) {
        EXPECT_LE(r.madt->cpu_count, kMaxCpus);
      }
    }
}

}  // namespace
}  // namespace hv::x86::acpi
