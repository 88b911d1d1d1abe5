// Specification of hv::mm::ObjectCache: the SLAB_TYPESAFE_BY_RCU contract.
#include "mm/object_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

#include "hosttests/mmu/host_platform.h"

namespace hv::mm {
namespace {

class ObjectCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host::set_cpu(0);
    e_.init(arena_.platform(), 1024);
    ASSERT_TRUE(e_.cpu_online());
    ASSERT_TRUE(c_.init(arena_.platform(), &e_, 64));
  }
  host::Arena arena_{64};
  Epoch e_;
  ObjectCache c_;
};

TEST_F(ObjectCacheTest, RefusesBadSizes) {
  ObjectCache c;
  EXPECT_FALSE(c.init(arena_.platform(), &e_, 0));
  EXPECT_FALSE(c.init(arena_.platform(), &e_, 4097));
  EXPECT_TRUE(c.init(arena_.platform(), &e_, 65));
  EXPECT_EQ(c.object_size(), 128u);
}

TEST_F(ObjectCacheTest, ObjectsAreDistinctAlignedAndFillPages) {
  std::set<void*> seen;
  for (int i = 0; i < 200; ++i) {
    void* p = c_.alloc(AllocMode::kMayBlock);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_TRUE(seen.insert(p).second);
  }
  EXPECT_EQ(c_.stats().pages, 4u);  // 64 objects per page
  EXPECT_EQ(c_.stats().live, 200u);
}

TEST_F(ObjectCacheTest, FreedObjectIsReusedAtOnceAndKeepsItsContents) {
  auto* p = static_cast<uint64_t*>(c_.alloc(AllocMode::kMayBlock));
  p[0] = 0x1234;
  ASSERT_TRUE(c_.free(p));
  EXPECT_EQ(p[0], 0x1234u) << "the cache never writes into a freed object";
  EXPECT_EQ(c_.alloc(AllocMode::kNoWait), p) << "type-stable: same-type reuse at once";
}

TEST_F(ObjectCacheTest, MalformedFreesAreRefused) {
  void* p = c_.alloc(AllocMode::kMayBlock);
  EXPECT_FALSE(c_.free(nullptr));
  EXPECT_FALSE(c_.free(static_cast<char*>(p) + 8)) << "interior pointer";
  ObjectCache other;
  ASSERT_TRUE(other.init(arena_.platform(), &e_, 64));
  void* q = other.alloc(AllocMode::kMayBlock);
  EXPECT_FALSE(c_.free(q)) << "object of another cache";
  EXPECT_TRUE(c_.free(p));
  EXPECT_FALSE(c_.free(p)) << "double free";
  EXPECT_EQ(c_.stats().refused_frees, 3u);
  EXPECT_TRUE(other.free(q));
}

TEST_F(ObjectCacheTest, PageGoesBackOnlyAfterAGracePeriod) {
  std::vector<void*> a, b;
  for (int i = 0; i < 64; ++i) a.push_back(c_.alloc(AllocMode::kMayBlock));
  for (int i = 0; i < 64; ++i) b.push_back(c_.alloc(AllocMode::kMayBlock));
  const size_t allocated = arena_.allocated_pages();
  for (void* p : a) ASSERT_TRUE(c_.free(p));   // first empty page: kept as spare
  for (void* p : b) ASSERT_TRUE(c_.free(p));   // second: retired to the epoch
  EXPECT_EQ(c_.stats().pages_retired, 1u);
  // A second CPU inside a read section holds the grace period open.
  host::set_cpu(1);
  ASSERT_TRUE(e_.cpu_online());
  e_.read_lock();
  host::set_cpu(0);
  e_.poll();
  e_.quiescent_state();
  e_.poll();
  EXPECT_EQ(arena_.allocated_pages(), allocated) << "a reader may still hold an object";
  host::set_cpu(1);
  e_.read_unlock();
  e_.quiescent_state();
  host::set_cpu(0);
  e_.poll();
  EXPECT_EQ(arena_.allocated_pages(), allocated - 1);
  EXPECT_EQ(c_.stats().pages_freed, 1u);
  host::set_cpu(1);
  ASSERT_TRUE(e_.cpu_offline());
  host::set_cpu(0);
  EXPECT_TRUE(c_.destroy());
  EXPECT_EQ(arena_.allocated_pages(), allocated - 2);
}

TEST_F(ObjectCacheTest, DestroyRefusedWhileObjectsLive) {
  void* p = c_.alloc(AllocMode::kMayBlock);
  EXPECT_FALSE(c_.destroy());
  c_.free(p);
  EXPECT_TRUE(c_.destroy());
  EXPECT_EQ(arena_.allocated_pages(), 0u);
}

TEST_F(ObjectCacheTest, NoWaitAllocationMayFailCleanly) {
  arena_.set_fail_nowait(true);
  EXPECT_EQ(c_.alloc(AllocMode::kNoWait), nullptr);
  void* p = c_.alloc(AllocMode::kMayBlock);
  EXPECT_NE(p, nullptr);
  EXPECT_NE(c_.alloc(AllocMode::kNoWait), nullptr) << "served from the page just added";
}

}  // namespace
}  // namespace hv::mm
