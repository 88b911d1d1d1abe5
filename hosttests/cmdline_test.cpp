// The kernel command line: what a user types in grub.cfg or with
// `tools/hv run --cmdline/--guest`, and what the kernel must refuse.
#include "kernel/cmdline.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <string>

namespace hv::cmdline {
namespace {

struct Parsed {
  bool ok;
  Config config;
  std::string error;
};

Parsed parse_line(const char* line) {
  Parsed p{};
  char err[160] = "";
  p.ok = parse(line, p.config, err, sizeof err);
  p.error = err;
  return p;
}

TEST(Cmdline, EmptyLineRunsTheDefaultScenarioALocalLiveMigration) {
  Parsed p = parse_line("");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_TRUE(p.config.default_scenario);
  ASSERT_EQ(p.config.guest_count, 3u);
  EXPECT_STREQ(p.config.guests[0].image, "dirtier");
  EXPECT_EQ(p.config.guests[0].mem_mib, 0u) << "the default, chosen at launch once the image is known";
  EXPECT_EQ(p.config.guests[0].expect, Outcome::Stopped);
  EXPECT_STREQ(p.config.guests[1].image, "");
  EXPECT_TRUE(p.config.guests[1].start_paused);
  EXPECT_STREQ(p.config.guests[2].image, "migrator");
  EXPECT_TRUE(p.config.guests[2].control);
  EXPECT_EQ(p.config.guests[2].cpu, 1u);
  EXPECT_STREQ(p.config.guests[2].args, "src=0,dst=1");
  EXPECT_EQ(p.config.log_level, LogLevel::Info);
  EXPECT_EQ(p.config.self_test, SelfTest::None);
}

TEST(Cmdline, SelfTestIsChosenByName) {
  Parsed p = parse_line("selftest=null_deref");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.config.self_test, SelfTest::NullDeref);
  p = parse_line("selftest=smp");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.config.self_test, SelfTest::Smp);
  p = parse_line("selftest=hung_cpu");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.config.self_test, SelfTest::HungCpu);
  // The last word wins, as for loglevel=.
  p = parse_line("selftest=smp selftest=null_deref");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.config.self_test, SelfTest::NullDeref);
}

TEST(Cmdline, GuestsRunInTheOrderGivenWithTheirOwnArguments) {
  Parsed p = parse_line("  guest=triple:expect=triple_fault   guest=memtest:mib=8,mem=32,order=seq loglevel=debug ");
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.config.guest_count, 2u);
  EXPECT_STREQ(p.config.guests[0].name, "triple");
  EXPECT_EQ(p.config.guests[0].expect, Outcome::TripleFault);
  EXPECT_STREQ(p.config.guests[0].args, "");
  EXPECT_STREQ(p.config.guests[1].name, "memtest");
  EXPECT_EQ(p.config.guests[1].mem_mib, 32u);
  // mem= and expect= are the kernel's; the rest reaches the guest verbatim.
  EXPECT_STREQ(p.config.guests[1].args, "mib=8,order=seq");
  EXPECT_EQ(p.config.log_level, LogLevel::Debug);
}

TEST(Cmdline, AMigrationNamesItsControlGuestAndAnEmptyPausedDestination) {
  Parsed p = parse_line("guest=src:image=dirtier,passes=9 guest=dst:image=none,start=paused guest=migrator:role=control");
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.config.guest_count, 3u);
  EXPECT_STREQ(p.config.guests[0].image, "dirtier");
  EXPECT_STREQ(p.config.guests[0].args, "passes=9");
  EXPECT_FALSE(p.config.guests[0].control);
  EXPECT_STREQ(p.config.guests[1].image, "");
  EXPECT_TRUE(p.config.guests[1].start_paused);
  EXPECT_STREQ(p.config.guests[2].image, "migrator");
  EXPECT_TRUE(p.config.guests[2].control);
  EXPECT_FALSE(p.config.guests[2].start_paused);
}

TEST(Cmdline, AGuestDescriptionAloneIsParsedAsTheGuestWordIs) {
  GuestSpec g;
  char err[160] = "";
  const char spec[] = "dst:image=none,start=paused,mem=32,cpu=1,dirty_log=initially_setXX";
  // Exactly n bytes are read: the trailing "XX" is not part of it.
  ASSERT_TRUE(parse_guest(spec, sizeof spec - 3, g, err, sizeof err)) << err;
  EXPECT_STREQ(g.name, "dst");
  EXPECT_STREQ(g.image, "");
  EXPECT_TRUE(g.start_paused);
  EXPECT_EQ(g.mem_mib, 32u);
  EXPECT_EQ(g.cpu, 1u);
  EXPECT_TRUE(g.manual_protect && g.initially_set);
  EXPECT_FALSE(parse_guest("dst:mem=7", 9, g, err, sizeof err));
  EXPECT_NE(std::string(err).find("even number of MiB"), std::string::npos) << err;
}

// vcpus=N: vCPU i on CPU A + i mod (B-A+1) for cpus=A-B; without cpus=,
// every vCPU on cpu= (time-sliced there); one by default.
TEST(Cmdline, AGuestsVcpusAndTheCpusTheyRunOn) {
  GuestSpec g;
  char err[160] = "";
  auto parse = [&](const char* s) { return parse_guest(s, strlen(s), g, err, sizeof err); };
  ASSERT_TRUE(parse("m")) << err;
  EXPECT_EQ(g.vcpus, 1u);
  EXPECT_EQ(g.vcpu_cpu(0), 0u);
  ASSERT_TRUE(parse("m:vcpus=3,cpus=1-2")) << err;
  EXPECT_EQ(g.vcpus, 3u);
  EXPECT_EQ(g.vcpu_cpu(0), 1u);
  EXPECT_EQ(g.vcpu_cpu(1), 2u);
  EXPECT_EQ(g.vcpu_cpu(2), 1u);  // shares CPU 1 with vCPU 0
  ASSERT_TRUE(parse("m:vcpus=4,cpu=3")) << err;
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(g.vcpu_cpu(i), 3u);
  ASSERT_TRUE(parse("m:cpus=2,vcpus=2")) << err;
  EXPECT_EQ(g.vcpu_cpu(1), 2u);
  EXPECT_STREQ(g.args, "");  // the kernel's keys, not the guest's
}

TEST(Cmdline, ALinuxGuestsCommandLineKeepsItsSpacesAndCommasInDoubleQuotes) {
  Parsed p = parse_line("guest=linux:cmdline=\"console=ttyS0,115200 quiet hv.mode=check\",initrd=rd,cpu=1 guest=m");
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.config.guest_count, 2u);
  const GuestSpec& g = p.config.guests[0];
  EXPECT_TRUE(g.has_cmdline);
  EXPECT_STREQ(g.cmdline, "console=ttyS0,115200 quiet hv.mode=check");
  EXPECT_TRUE(g.has_initrd);
  EXPECT_STREQ(g.initrd, "rd");
  EXPECT_EQ(g.cpu, 1u);
  EXPECT_STREQ(g.args, "") << "cmdline and initrd are the kernel's, not the guest's arguments";
  EXPECT_FALSE(p.config.guests[1].has_cmdline);
  Parsed none = parse_line("guest=linux:initrd=none");
  ASSERT_TRUE(none.ok) << none.error;
  EXPECT_TRUE(none.config.guests[0].has_initrd);
  EXPECT_STREQ(none.config.guests[0].initrd, "");
}

TEST(Cmdline, AWordGrubQuotedAsAWholeIsUnquoted) {
  // What GRUB's multiboot2 makes of the grub.cfg word 'guest=linux:cmdline="a b"'.
  Parsed p = parse_line("loglevel=info \"guest=linux:cmdline=\\\"console=ttyS0,115200 quiet\\\"\" guest=m");
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.config.guest_count, 2u);
  EXPECT_STREQ(p.config.guests[0].cmdline, "console=ttyS0,115200 quiet");
  EXPECT_STREQ(p.config.guests[1].name, "m");
  EXPECT_FALSE(parse_line("\"guest=linux").ok);
}

TEST(Cmdline, GrubsEscapesAreUndoneInWordsWithoutBlanksToo) {
  // GRUB escapes " ' and \ in every argument but quotes only those with blanks.
  Parsed p = parse_line("guest=linux:cmdline=\\\"console=ttyS0,115200\\\" \"guest=k:cmdline=\\\"it\\'s a\\\"\"");
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.config.guest_count, 2u);
  EXPECT_STREQ(p.config.guests[0].cmdline, "console=ttyS0,115200");
  EXPECT_STREQ(p.config.guests[1].cmdline, "it's a");
  Parsed empty = parse_line("guest=linux:cmdline=\\\"\\\"");
  ASSERT_TRUE(empty.ok) << empty.error;
  EXPECT_TRUE(empty.config.guests[0].has_cmdline);
  EXPECT_STREQ(empty.config.guests[0].cmdline, "");
}

TEST(Cmdline, AnOpenDoubleQuoteOrAQuoteInsideACmdlineIsRefused) {
  Parsed open = parse_line("guest=linux:cmdline=\"console=ttyS0 quiet");
  EXPECT_FALSE(open.ok);
  EXPECT_NE(open.error.find("double quote is not closed"), std::string::npos) << open.error;
  Parsed inside = parse_line("guest=linux:cmdline=\"a\"b\"\"");
  EXPECT_FALSE(inside.ok);
  std::string long_line = "guest=linux:cmdline=\"" + std::string(600, 'x') + "\"";
  Parsed too_long = parse_line(long_line.c_str());
  EXPECT_FALSE(too_long.ok);
  EXPECT_NE(too_long.error.find("longer than 511"), std::string::npos) << too_long.error;
}

TEST(Cmdline, EveryOutcomeNameRoundTrips) {
  for (size_t i = 0; i < sizeof kOutcomeNames / sizeof *kOutcomeNames; ++i) {
    std::string line = std::string("guest=g:expect=") + kOutcomeNames[i];
    Parsed p = parse_line(line.c_str());
    ASSERT_TRUE(p.ok) << line << ": " << p.error;
    EXPECT_EQ(size_t(p.config.guests[0].expect), i);
  }
}

struct Bad {
  const char* line;
  const char* message;
};

class CmdlineRejects : public ::testing::TestWithParam<Bad> {};

TEST_P(CmdlineRejects, WithAMessageNamingTheProblem) {
  Parsed p = parse_line(GetParam().line);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find(GetParam().message), std::string::npos) << "got: " << p.error;
}

INSTANTIATE_TEST_SUITE_P(
    Cmdline, CmdlineRejects,
    ::testing::Values(
        Bad{"quiet", "command-line word without '='"},
        Bad{"frobnicate=1", "unknown command-line option: 'frobnicate=1'"},
        Bad{"selftest=reboot", "selftest must be null_deref, smp or hung_cpu"},
        Bad{"selftest=smpx", "selftest must be null_deref, smp or hung_cpu: 'smpx'"},
        Bad{"selftest=", "selftest must be null_deref, smp or hung_cpu"},
        Bad{"loglevel=loud", "loglevel must be error, warn, info or debug"},
        Bad{"guest=", "guest name must be"},
        Bad{"guest=a/b", "guest name must be"},
        Bad{"guest=abcdefghijklmnopqrstuvwxyz0123456", "guest name must be"},
        Bad{"guest=m:mem=3", "even number of MiB"},
        Bad{"guest=m:mem=0", "even number of MiB"},
        Bad{"guest=m:mem=2048", "even number of MiB"},
        Bad{"guest=m:mem=12x", "even number of MiB"},
        Bad{"guest=m:mem=99999999999999999999", "even number of MiB"},
        Bad{"guest=m:expect=explode", "unknown expected outcome: 'explode'"},
        Bad{"guest=m:role=root", "guest role must be control"},
        Bad{"guest=m:image=../x", "guest image must be none or"},
        Bad{"guest=m:start=now", "guest start must be paused"},
        Bad{"guest=m:vcpus=0", "guest vcpus must be 1..HV_MAX_VCPUS (4)"},
        Bad{"guest=m:vcpus=5", "guest vcpus must be 1..HV_MAX_VCPUS (4)"},
        Bad{"guest=m:cpus=2-1", "guest cpus must be A-B"},
        Bad{"guest=m:cpus=0-16", "guest cpus must be A-B"},
        Bad{"guest=m:cpus=x", "guest cpus must be A-B"},
        Bad{"guest=m:cpu=1,cpus=0-1", "guest cpu= and cpus= together"},
        Bad{"guest=m:novalue", "guest argument must be KEY=VALUE"},
        Bad{"guest=m:=v", "guest argument must be KEY=VALUE"},
        Bad{"guest=a guest=b guest=c guest=d guest=e guest=f guest=g guest=h guest=i", "too many guest= words"}),
    [](const ::testing::TestParamInfo<Bad>& info) {
      // The offending line, as a test name: letters and digits kept, the rest '_'.
      std::string name;
      for (const char* c = info.param.line; *c && name.size() < 40; ++c) name += isalnum(*c) ? *c : '_';
      return name + "_" + std::to_string(info.index);
    });

TEST(Cmdline, RefusesGuestArgumentsThatWouldBeTruncated) {
  std::string line = "guest=m:k=" + std::string(HV_GUEST_ARGS_MAX, 'x');
  Parsed p = parse_line(line.c_str());
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("longer than HV_GUEST_ARGS_MAX"), std::string::npos) << p.error;

  std::string fits = "guest=m:k=" + std::string(HV_GUEST_ARGS_MAX - 3, 'x');
  Parsed q = parse_line(fits.c_str());
  ASSERT_TRUE(q.ok) << q.error;
  EXPECT_EQ(std::string(q.config.guests[0].args).size(), HV_GUEST_ARGS_MAX - 1);
}

TEST(Cmdline, ErrorMessagesFitTheCallersBufferWhateverTheInput) {
  std::string line = "x" + std::string(1000, 'y');
  Config c;
  char err[16];
  EXPECT_FALSE(parse(line.c_str(), c, err, sizeof err));
  EXPECT_EQ(std::string(err).size(), sizeof err - 1);
}

}  // namespace
}  // namespace hv::cmdline
