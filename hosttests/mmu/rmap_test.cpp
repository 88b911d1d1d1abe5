// Specification of the rmap (mm/rmap.*), seed 001's pte_list with both of the
// reviewer's bugs fixed, and the nulls walker of seed 000. The reviewer-bug
// tests drive the interleaving deterministically through the walk hook: a
// removal is performed "concurrently" between two entries of a walk.
#include "mm/rmap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <vector>

#include "hosttests/mmu/host_platform.h"

namespace hv::mm {
namespace {

constexpr int kExt = PteListDesc::kExt;

class RmapTest : public ::testing::Test {
 public:
  void SetUp() override {
    host::set_cpu(0);
    e_.init(arena_.platform(), 1 << 20);
    ASSERT_TRUE(e_.cpu_online());
    ASSERT_TRUE(descs_.init(arena_.platform(), &e_, sizeof(PteListDesc)));
    r_.init(&descs_);
  }
  void TearDown() override { e_.barrier(); }

  std::set<Spte*> lockless(const RmapHead& h, unsigned* restarts = nullptr) {
    std::set<Spte*> s;
    EpochReadGuard g(e_);
    const unsigned r = r_.walk_lockless(&h, [&](Spte* p) { s.insert(p); });
    if (restarts) *restarts = r;
    return s;
  }
  std::set<Spte*> locked(const RmapHead& h) {
    std::set<Spte*> s;
    r_.walk_locked(&h, [&](Spte* p) { s.insert(p); });
    return s;
  }

  host::Arena arena_{256};
  Epoch e_;
  ObjectCache descs_;
  Rmap r_;
  Spte sptes_[256];
};

TEST_F(RmapTest, HeadEncodingFollowsPteList) {
  RmapHead h;
  EXPECT_EQ(h.v.load(), 0u) << "empty";
  EXPECT_EQ(r_.add(&h, &sptes_[0], AllocMode::kMayBlock), 0);
  EXPECT_EQ(h.v.load(), reinterpret_cast<uintptr_t>(&sptes_[0])) << "one SPTE: the pointer itself";
  EXPECT_EQ(r_.add(&h, &sptes_[1], AllocMode::kMayBlock), 1);
  ASSERT_EQ(h.v.load() & 1, 1u) << "many: tagged descriptor pointer";
  const PteListDesc* d = Rmap::desc_of(h.v.load());
  EXPECT_EQ(d->more.load(), Rmap::nulls(&h)) << "the last descriptor's more names its head";
  EXPECT_EQ(d->sptes[0].load(), &sptes_[0]);
  EXPECT_EQ(d->sptes[1].load(), &sptes_[1]);
}

TEST_F(RmapTest, AddReturnsTheCountBeforeTheAdd) {
  RmapHead h;
  for (int i = 0; i < 5 * kExt; ++i) EXPECT_EQ(r_.add(&h, &sptes_[i], AllocMode::kMayBlock), i);
  EXPECT_EQ(r_.count(&h), static_cast<size_t>(5 * kExt));
}

TEST_F(RmapTest, ReviewerBug1CountAfterAddIsWhatThePostedPatchReturned) {
  Rmap buggy;
  Rmap::Options o;
  o.bug_count_after_add = true;
  buggy.init(&descs_, o);
  RmapHead h;
  EXPECT_EQ(buggy.add(&h, &sptes_[0], AllocMode::kMayBlock), 0);
  EXPECT_EQ(buggy.add(&h, &sptes_[1], AllocMode::kMayBlock), 1);
  EXPECT_EQ(buggy.add(&h, &sptes_[2], AllocMode::kMayBlock), 3) << "many->many path off by one";
  RmapHead g;
  for (int i = 0; i < 3; ++i) r_.add(&g, &sptes_[10 + i], AllocMode::kMayBlock);
  EXPECT_EQ(r_.add(&g, &sptes_[13], AllocMode::kMayBlock), 3) << "ours: count before";
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(buggy.remove(&h, &sptes_[i]));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r_.remove(&g, &sptes_[10 + i]));
}

TEST_F(RmapTest, MalformedUsesAreRefused) {
  RmapHead h;
  EXPECT_FALSE(r_.remove(&h, &sptes_[0])) << "remove from an empty rmap";
  EXPECT_EQ(r_.add(&h, nullptr, AllocMode::kMayBlock), -2);
  EXPECT_EQ(r_.add(&h, reinterpret_cast<Spte*>(reinterpret_cast<char*>(&sptes_[0]) + 1), AllocMode::kMayBlock), -2);
  r_.add(&h, &sptes_[0], AllocMode::kMayBlock);
  EXPECT_FALSE(r_.remove(&h, &sptes_[1])) << "absent SPTE, single head";
  for (int i = 1; i < 20; ++i) r_.add(&h, &sptes_[i], AllocMode::kMayBlock);
  EXPECT_FALSE(r_.remove(&h, &sptes_[50])) << "absent SPTE, chain";
  EXPECT_TRUE(r_.remove(&h, &sptes_[7]));
  EXPECT_FALSE(r_.remove(&h, &sptes_[7])) << "double remove";
  EXPECT_EQ(r_.count(&h), 19u);
  arena_.set_fail_all(true);
  RmapHead g;
  r_.add(&g, &sptes_[100], AllocMode::kNoWait);
  // The cache may still hold a free descriptor; drain it so the add must fail.
  std::vector<void*> hold;
  while (void* p = descs_.alloc(AllocMode::kNoWait)) hold.push_back(p);
  EXPECT_EQ(r_.add(&g, &sptes_[101], AllocMode::kNoWait), -1);
  EXPECT_EQ(r_.count(&g), 1u) << "a failed add changes nothing";
  arena_.set_fail_all(false);
  for (void* p : hold) descs_.free(p);
}

TEST_F(RmapTest, RandomAddRemoveMatchesASetAndKeepsTheShape) {
  std::mt19937 rng(7);
  RmapHead h;
  std::set<Spte*> model;
  for (int step = 0; step < 20000; ++step) {
    Spte* s = &sptes_[rng() % 64];
    if (model.count(s)) {
      ASSERT_TRUE(r_.remove(&h, s));
      model.erase(s);
    } else {
      ASSERT_EQ(r_.add(&h, s, AllocMode::kMayBlock), static_cast<int>(model.size()));
      model.insert(s);
    }
    ASSERT_EQ(locked(h), model);
    ASSERT_EQ(lockless(h), model);
    // Shape: a lone SPTE is never kept in a descriptor; every descriptor after
    // the first is full; the chain ends with this head's nulls.
    const uintptr_t v = h.v.load();
    if (model.size() <= 1) {
      ASSERT_EQ(v & 1, 0u);
    }
    if (v & 1) {
      const PteListDesc* d = Rmap::desc_of(v);
      ASSERT_NE(d->sptes[0].load(), nullptr);
      for (uintptr_t m = d->more.load(); !Rmap::is_nulls(m);) {
        d = reinterpret_cast<const PteListDesc*>(m);
        for (int j = 0; j < kExt; ++j) ASSERT_NE(d->sptes[j].load(), nullptr);
        m = d->more.load();
        if (Rmap::is_nulls(m)) {
          ASSERT_EQ(m, Rmap::nulls(&h));
        }
      }
    }
    e_.quiescent_state();
    e_.poll();
  }
}

// For a chain of n SPTEs, at every point of a lockless walk and for every
// SPTE, remove that SPTE there (as a concurrent writer would) and check that
// the walk still visited every SPTE that stayed. Returns the number of
// (point, victim) cases in which some staying SPTE was missed.
int count_missed_cases(Rmap& r, Epoch& e, Spte* pool, int n) {
  int missed_cases = 0;
  for (int point = 0;; ++point) {
    bool point_exists = false;
    for (int victim = 0; victim < n; ++victim) {
      RmapHead h;
      for (int i = 0; i < n; ++i) r.add(&h, &pool[i], AllocMode::kMayBlock);
      struct Ctx { Rmap* r; RmapHead* h; Spte* victim; int point; int calls; bool fired; } ctx{&r, &h, &pool[victim], point, 0, false};
      r.set_walk_hook([](void* c, const PteListDesc*, int, Spte*) {
        auto* x = static_cast<Ctx*>(c);
        if (x->calls++ == x->point) { x->r->remove(x->h, x->victim); x->fired = true; }
      }, &ctx);
      std::set<Spte*> seen;
      {
        EpochReadGuard g(e);
        r.walk_lockless(&h, [&](Spte* s) { seen.insert(s); });
      }
      r.set_walk_hook(nullptr, nullptr);
      if (ctx.fired) {
        point_exists = true;
        for (int i = 0; i < n; ++i)
          if (i != victim && !seen.count(&pool[i])) { ++missed_cases; break; }
      } else {
        r.remove(&h, &pool[victim]);
      }
      for (int i = 0; i < n; ++i) r.remove(&h, &pool[i]);
      e.quiescent_state();
      e.poll();
    }
    if (!point_exists) break;
  }
  return missed_cases;
}

TEST_F(RmapTest, ReviewerBug2ForwardMoveNeverHidesAnSpteFromAWalker) {
  for (int n = 2; n <= 3 * kExt + 2; ++n) {
    SCOPED_TRACE(n);
    EXPECT_EQ(count_missed_cases(r_, e_, sptes_, n), 0);
  }
}

TEST_F(RmapTest, ReviewerBug2BackwardMoveInTheFirstDescriptorIsCaughtByTheSameTest) {
  Rmap buggy;
  Rmap::Options o;
  o.bug_backward_move = true;
  buggy.init(&descs_, o);
  // The reviewer's case: desc == first_desc, i < last_used. Entries 0..2 in
  // the first descriptor; the walker has read index 0 and moves on; index 0
  // is removed and index 2 moves into it, behind the walker.
  EXPECT_GT(count_missed_cases(buggy, e_, sptes_, 3), 0);
  int total = 0;
  for (int n = 2; n <= 2 * kExt; ++n) total += count_missed_cases(buggy, e_, sptes_, n);
  EXPECT_GT(total, 0);
}

// B is freed and reused for another head h2 while a walker of h1 is inside:
// run with the descriptor generation off, the walker must get out through
// h2's nulls; with it on (ours), through the generation first.
unsigned run_other_head_reuse(RmapTest* t, Rmap& r, uint64_t* restarts_out) {
  RmapHead h1, h2;
  Spte* sp = t->sptes_;
  for (int i = 0; i <= kExt; ++i) r.add(&h1, &sp[i], AllocMode::kMayBlock);
  r.add(&h2, &sp[100], AllocMode::kMayBlock);
  const PteListDesc* b = Rmap::desc_of(h1.v.load());
  EXPECT_EQ(b->sptes[0].load(), &sp[kExt]);
  struct Ctx { Rmap* r; RmapHead* h1; RmapHead* h2; Spte* sp; const PteListDesc* b; bool fired; }
      ctx{&r, &h1, &h2, sp, b, false};
  r.set_walk_hook([](void* c, const PteListDesc* d, int, Spte*) {
    auto* x = static_cast<Ctx*>(c);
    if (x->fired || d != x->b) return;
    x->fired = true;
    // While the walker is in B: B empties and is freed (h1 -> A), and is
    // reused at once for h2's one -> many conversion (type-stable reuse).
    EXPECT_TRUE(x->r->remove(x->h1, &x->sp[kExt]));
    EXPECT_EQ(x->r->add(x->h2, &x->sp[101], AllocMode::kMayBlock), 1);
    EXPECT_EQ(Rmap::desc_of(x->h2->v.load()), x->b) << "test premise: B was reused for h2";
  }, &ctx);
  std::set<Spte*> seen;
  unsigned restarts;
  {
    EpochReadGuard g(t->e_);
    restarts = r.walk_lockless(&h1, [&](Spte* s) { seen.insert(s); });
  }
  r.set_walk_hook(nullptr, nullptr);
  EXPECT_TRUE(ctx.fired);
  for (int i = 0; i < kExt; ++i) EXPECT_TRUE(seen.count(&sp[i])) << i;
  for (int i = 0; i < kExt; ++i) r.remove(&h1, &sp[i]);
  r.remove(&h2, &sp[100]);
  r.remove(&h2, &sp[101]);
  *restarts_out = r.stats().gen_restarts.load();
  return restarts;
}

TEST_F(RmapTest, WalkerThatMeetsAnotherHeadsNullsRestarts) {
  Rmap nulls_only;
  Rmap::Options o;
  o.bug_no_desc_gen = true;  // isolate the nulls mechanism
  nulls_only.init(&descs_, o);
  uint64_t gen_restarts;
  EXPECT_EQ(run_other_head_reuse(this, nulls_only, &gen_restarts), 1u) << "ended on h2's nulls";
  EXPECT_EQ(gen_restarts, 0u);
}

TEST_F(RmapTest, WalkerInAReusedDescriptorRestartsOnItsGeneration) {
  uint64_t gen_restarts;
  EXPECT_EQ(run_other_head_reuse(this, r_, &gen_restarts), 1u);
  EXPECT_EQ(gen_restarts, 1u) << "the seqcount noticed before the nulls did";
}

// Found by Spin (models/rmap_nulls.pml, -DNO_DESC_GEN): the walker's own
// descriptor is freed and reused for the *same* head while it is inside, so
// it ends on its own nulls. Chain of h: B[s6] -> A[s0..s5]; S = s0 stays.
int run_same_head_reuse(RmapTest* t, Rmap& r) {
  RmapHead h;
  Spte* sp = t->sptes_;
  for (int i = 0; i <= kExt; ++i) r.add(&h, &sp[i], AllocMode::kMayBlock);
  const PteListDesc* b = Rmap::desc_of(h.v.load());
  struct Ctx { Rmap* r; RmapHead* h; Spte* sp; const PteListDesc* b; ObjectCache* c; void* dummy; bool fired; }
      ctx{&r, &h, sp, b, &t->descs_, nullptr, false};
  r.set_walk_hook([](void* c, const PteListDesc* d, int idx, Spte*) {
    auto* x = static_cast<Ctx*>(c);
    if (x->fired || d != x->b || idx != 0) return;  // after B's last entry, before B->more
    x->fired = true;
    x->r->remove(x->h, &x->sp[kExt]);                          // B empties: freed
    for (int i = 1; i < kExt; ++i) x->r->remove(x->h, &x->sp[i]);  // A collapses: head = s0
    x->dummy = x->c->alloc(AllocMode::kMayBlock);              // other traffic takes A
    x->r->add(x->h, &x->sp[100], AllocMode::kMayBlock);        // one -> many reuses B
  }, &ctx);
  std::set<Spte*> seen;
  {
    EpochReadGuard g(t->e_);
    r.walk_lockless(&h, [&](Spte* s) { seen.insert(s); });
  }
  r.set_walk_hook(nullptr, nullptr);
  EXPECT_TRUE(ctx.fired);
  EXPECT_EQ(Rmap::desc_of(h.v.load()), b) << "test premise: B was reused for the same head";
  r.remove(&h, &sp[0]);
  r.remove(&h, &sp[100]);
  t->descs_.free(ctx.dummy);
  return static_cast<int>(seen.count(&sp[0]));
}

TEST_F(RmapTest, DescriptorReusedForTheSameHeadMakesTheWalkerRestart) {
  EXPECT_EQ(run_same_head_reuse(this, r_), 1) << "s0 stayed in the rmap for the whole walk";
  EXPECT_GE(r_.stats().gen_restarts.load(), 1u);
}

TEST_F(RmapTest, WithoutTheDescriptorGenerationTheSameHeadReuseMissesAnSpte) {
  Rmap nulls_only;
  Rmap::Options o;
  o.bug_no_desc_gen = true;
  nulls_only.init(&descs_, o);
  EXPECT_EQ(run_same_head_reuse(this, nulls_only), 0) << "nulls alone cannot see this";
}

}  // namespace
}  // namespace hv::mm
