// Specification of hv::mm::Epoch. One test thread impersonates several CPUs
// (host::set_cpu), which makes every interleaving here deterministic; the
// threaded checks are in stress_test.cpp.
#include "mm/epoch.h"

#include <gtest/gtest.h>

#include <vector>

#include "hosttests/mmu/host_platform.h"

namespace hv::mm {
namespace {

struct Counted {
  EpochCallback cb;
  int* ran;
  int id;
  std::vector<int>* order;
};

void bump(EpochCallback* cb) {
  auto* c = reinterpret_cast<Counted*>(cb);
  ++*c->ran;
  if (c->order) c->order->push_back(c->id);
}

class EpochTest : public ::testing::Test {
 protected:
  void SetUp() override {
    e_.init(arena_.platform(), 4);
    host::set_cpu(0);
  }
  void TearDown() override { host::set_cpu(0); }
  void as_cpu(unsigned c) { host::set_cpu(c); }

  host::Arena arena_{16};
  Epoch e_;
};

TEST_F(EpochTest, SynchronizeWithNoOnlineCpuReturns) { EXPECT_TRUE(e_.synchronize()); }

TEST_F(EpochTest, CallbackWaitsForEveryOnlineCpu) {
  as_cpu(0); ASSERT_TRUE(e_.cpu_online());
  as_cpu(1); ASSERT_TRUE(e_.cpu_online());
  int ran = 0;
  Counted c{{}, &ran, 0, nullptr};
  as_cpu(0);
  EXPECT_TRUE(e_.call(&c.cb, &bump));
  EXPECT_EQ(e_.poll(), 0u);  // starts the grace period
  EXPECT_TRUE(e_.quiescent_state());
  EXPECT_EQ(e_.poll(), 0u) << "CPU 1 has not passed a quiescent state";
  EXPECT_EQ(ran, 0);
  as_cpu(1);
  EXPECT_TRUE(e_.quiescent_state());
  EXPECT_EQ(e_.poll(), 1u);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(e_.pending(), 0u);
}

TEST_F(EpochTest, QuiescentStateBeforeTheGracePeriodStartsDoesNotCount) {
  as_cpu(0); ASSERT_TRUE(e_.cpu_online());
  as_cpu(1); ASSERT_TRUE(e_.cpu_online());
  EXPECT_TRUE(e_.quiescent_state());  // CPU 1, before the call
  as_cpu(0);
  int ran = 0;
  Counted c{{}, &ran, 0, nullptr};
  e_.call(&c.cb, &bump);
  e_.poll();
  e_.quiescent_state();
  e_.poll();
  EXPECT_EQ(ran, 0) << "CPU 1's old quiescent state predates the grace period";
}

TEST_F(EpochTest, ReaderBlocksReclaimUntilItLeaves) {
  as_cpu(1); ASSERT_TRUE(e_.cpu_online());
  e_.read_lock();
  EXPECT_FALSE(e_.quiescent_state()) << "a QS inside a read section is refused";
  EXPECT_FALSE(e_.synchronize()) << "synchronize inside a read section would deadlock";
  EXPECT_FALSE(e_.cpu_offline());
  as_cpu(0); ASSERT_TRUE(e_.cpu_online());
  int ran = 0;
  Counted c{{}, &ran, 0, nullptr};
  e_.call(&c.cb, &bump);
  for (int i = 0; i < 3; ++i) { e_.poll(); e_.quiescent_state(); }
  EXPECT_EQ(ran, 0);
  as_cpu(1);
  e_.read_unlock();
  EXPECT_TRUE(e_.quiescent_state());
  as_cpu(0);
  e_.poll();
  EXPECT_EQ(ran, 1);
  EXPECT_GE(e_.stats().misuse, 3u);
}

TEST_F(EpochTest, OfflineCpusDoNotBlockAndOnlineCpusAreNotSkipped) {
  as_cpu(2); ASSERT_TRUE(e_.cpu_online());
  ASSERT_TRUE(e_.cpu_offline());
  EXPECT_FALSE(e_.cpu_offline()) << "already offline";
  EXPECT_FALSE(e_.quiescent_state()) << "an offline CPU has nothing to report";
  as_cpu(0); ASSERT_TRUE(e_.cpu_online());
  int ran = 0;
  Counted c{{}, &ran, 0, nullptr};
  e_.call(&c.cb, &bump);
  e_.poll();
  e_.quiescent_state();
  e_.poll();
  EXPECT_EQ(ran, 1) << "offline CPU 2 is in an extended quiescent state";
  // A CPU that comes online after the GP started has observed it (ordering step 4).
  Counted d{{}, &ran, 1, nullptr};
  e_.call(&d.cb, &bump);
  e_.poll();
  as_cpu(2); ASSERT_TRUE(e_.cpu_online());
  as_cpu(0);
  e_.quiescent_state();
  e_.poll();
  EXPECT_EQ(ran, 2);
}

TEST_F(EpochTest, CallbacksRunInOrderAndBackPressureIsSignalled) {
  as_cpu(0); ASSERT_TRUE(e_.cpu_online());
  int ran = 0;
  std::vector<int> order;
  std::vector<Counted> cs(6);
  for (int i = 0; i < 6; ++i) {
    cs[i] = Counted{{}, &ran, i, &order};
    EXPECT_EQ(e_.call(&cs[i].cb, &bump), i < 4) << "bound is 4 pending callbacks";
  }
  EXPECT_EQ(e_.stats().backpressure, 2u);
  EXPECT_TRUE(e_.barrier());
  EXPECT_EQ(ran, 6);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(e_.pending(), 0u);
}

TEST_F(EpochTest, SynchronizeCompletesAGracePeriod) {
  as_cpu(0); ASSERT_TRUE(e_.cpu_online());
  const uint64_t before = e_.gp_seq();
  EXPECT_TRUE(e_.synchronize());
  EXPECT_GT(e_.gp_seq(), before);
  EXPECT_TRUE(e_.gp_completed(e_.gp_seq()));
}

// No wait is unbounded: a CPU that never passes a quiescent state is named
// once the platform's deadline passes (the kernel ends the run there; here
// the CPU is then taken offline, and the grace period completes).
TEST(EpochDeadline, AGracePeriodHeldPastTheDeadlineNamesTheCpu) {
  host::Arena arena{16};
  Platform p = *arena.platform();
  struct Clock {
    uint64_t now = 0;
    unsigned named = ~0u;
    Epoch* e = nullptr;
  };
  static Clock clk;
  clk = Clock{};
  p.ctx = arena.platform()->ctx;
  p.clock = [](void*) { return clk.now += 10; };  // every look at the clock: 10 ticks
  p.wait_limit = [](void*) { return uint64_t{1000}; };
  p.unresponsive = [](void*, unsigned cpu, const char*) {
    clk.named = cpu;
    host::set_cpu(cpu);
    clk.e->cpu_offline();  // in the kernel the run ends instead
    host::set_cpu(0);
  };
  Epoch e;
  clk.e = &e;
  e.init(&p, 4);
  host::set_cpu(0);
  ASSERT_TRUE(e.cpu_online());
  host::set_cpu(2);
  ASSERT_TRUE(e.cpu_online());  // and never passes a quiescent state
  host::set_cpu(0);
  EXPECT_TRUE(e.synchronize());
  EXPECT_EQ(clk.named, 2u);
  EXPECT_GE(clk.now, 1000u) << "named only after the deadline";
  e.cpu_offline();
}

}  // namespace
}  // namespace hv::mm
