// Thread stress tests, built twice: under ThreadSanitizer and under
// AddressSanitizer (freed arena pages are poisoned, so a read of memory freed
// too early is a report). HV_STRESS_SECONDS lengthens each test (default 1.5).
//
//  (a) lockless rmap walkers against a writer adding and removing: every
//      SPTE that stays in the rmap for a whole walk is seen by that walk;
//  (b) epochs: readers never see an object whose page has been freed;
//  (c) KVM's dirty_log_test invariant: vCPU threads write only through
//      writable SPTEs (a per-vCPU "TLB" that the flush empties), a harvester
//      gets (and clears) the log and copies the reported pages; after the
//      last harvest the copy equals memory: zero lost dirty pages.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <random>
#include <thread>
#include <vector>

#include "hosttests/mmu/host_platform.h"
#include "mm/mmu.h"

namespace hv::mm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds() {
  const char* s = std::getenv("HV_STRESS_SECONDS");
  return s ? std::atof(s) : 1.5;
}

// ---------------- (a) rmap walkers vs add/remove ----------------

TEST(RmapStress, LocklessWalkersSeeEverySpteThatStays) {
  host::Arena arena(512);
  Epoch e;
  e.init(arena.platform(), 1 << 12);
  ObjectCache descs;
  ASSERT_TRUE(descs.init(arena.platform(), &e, sizeof(PteListDesc)));
  Rmap r;
  r.init(&descs);
  constexpr int kHeads = 4, kStable = 5, kChurn = 40;
  std::vector<RmapHead> heads(kHeads);
  std::vector<Spte> stable(kHeads * kStable), churn(kHeads * kChurn);
  host::set_cpu(0);
  ASSERT_TRUE(e.cpu_online());
  for (int h = 0; h < kHeads; ++h)
    for (int i = 0; i < kStable; ++i) ASSERT_GE(r.add(&heads[h], &stable[h * kStable + i], AllocMode::kMayBlock), 0);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> walks{0}, misses{0};
  auto walker = [&](unsigned cpu) {
    host::set_cpu(cpu);
    e.cpu_online();
    std::vector<char> seen(kStable);
    for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      const int h = static_cast<int>(n % kHeads);
      std::fill(seen.begin(), seen.end(), 0);
      {
        EpochReadGuard g(e);
        r.walk_lockless(&heads[h], [&](Spte* s) {
          const ptrdiff_t i = s - &stable[h * kStable];
          if (i >= 0 && i < kStable) seen[i] = 1;
        });
      }
      for (char c : seen) if (!c) misses.fetch_add(1);
      walks.fetch_add(1, std::memory_order_relaxed);
      e.quiescent_state();
    }
    e.cpu_offline();
  };
  std::thread w1(walker, 1), w2(walker, 2);
  std::mt19937 rng(3);
  std::vector<char> in(kHeads * kChurn, 0);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds());
  uint64_t ops = 0;
  while (Clock::now() < end || walks.load() < 1000) {
    for (int k = 0; k < 64; ++k, ++ops) {
      const int i = static_cast<int>(rng() % (kHeads * kChurn));
      RmapHead* h = &heads[i / kChurn];
      if (in[i]) { ASSERT_TRUE(r.remove(h, &churn[i])); in[i] = 0; }
      else { ASSERT_GE(r.add(h, &churn[i], AllocMode::kMayBlock), 0); in[i] = 1; }
    }
    e.quiescent_state();
    e.poll();
  }
  stop = true;
  w1.join();
  w2.join();
  EXPECT_EQ(misses.load(), 0u) << "walks: " << walks.load();
  RecordProperty("walks", std::to_string(walks.load()));
  RecordProperty("restarts", std::to_string(r.stats().restarts.load()));
  for (int i = 0; i < kHeads * kChurn; ++i) if (in[i]) r.remove(&heads[i / kChurn], &churn[i]);
  for (int h = 0; h < kHeads; ++h)
    for (int i = 0; i < kStable; ++i) ASSERT_TRUE(r.remove(&heads[h], &stable[h * kStable + i]));
  e.barrier();
  EXPECT_TRUE(descs.destroy());
  std::printf("rmap stress: %llu writer ops, %llu walks, %llu restarts\n",
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(walks.load()),
              static_cast<unsigned long long>(r.stats().restarts.load()));
}

// The walker's acquire loads, checked by ThreadSanitizer (which models
// acquire/release, not stale reads): each SPTE here carries a plain payload,
// written once before the SPTE is first added and never again. A walker reads
// the payload of every SPTE it is handed. The only thing ordering the
// writer's payload store before the walker's read is the release store that
// published the pointer (head, entry, forward move) and the walker's acquire
// load that read it (rmap.h (W1), (W3)): weakened to relaxed, TSan reports
// the race (HV_STRESS_SECONDS as above; fresh SPTEs, so that the epoch's own
// synchronisation at quiescent states is not what orders them).
struct PayloadSpte {
  Spte spte;          // first: the rmap's Spte* is the PayloadSpte*
  uint64_t payload;   // plain: written once, before the first add
};
constexpr uint64_t payload_of(size_t i) { return 0x5eed000000000000ull ^ (i * 0x9e3779b97f4a7c15ull); }

TEST(RmapStress, WalkersReadWhatWasWrittenBeforeTheAdd) {
  host::Arena arena(512);
  Epoch e;
  e.init(arena.platform(), 1 << 12);
  ObjectCache descs;
  ASSERT_TRUE(descs.init(arena.platform(), &e, sizeof(PteListDesc)));
  Rmap r;
  r.init(&descs);
  // Heads 0..kSingle-1 hold at most one SPTE (the head is the pointer: (W1));
  // the others chains of up to kDepth (descriptors, forward moves: (W3)).
  constexpr int kHeads = 8, kSingle = 3, kDepth = 14;
  constexpr size_t kPool = size_t{1} << 18;
  std::vector<RmapHead> heads(kHeads);
  std::vector<PayloadSpte> pool(kPool);
  host::set_cpu(0);
  ASSERT_TRUE(e.cpu_online());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> walks{0}, seen{0}, bad{0};
  auto walker = [&](unsigned cpu) {
    host::set_cpu(cpu);
    e.cpu_online();
    for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      uint64_t k = 0, b = 0;
      {
        EpochReadGuard g(e);
        r.walk_lockless(&heads[n % kHeads], [&](Spte* s) {
          auto* p = reinterpret_cast<PayloadSpte*>(s);
          const size_t i = static_cast<size_t>(p - pool.data());
          ++k;
          if (i >= kPool || p->payload != payload_of(i)) ++b;
        });
      }
      seen.fetch_add(k, std::memory_order_relaxed);
      if (b) bad.fetch_add(b);
      walks.fetch_add(1, std::memory_order_relaxed);
      e.quiescent_state();
    }
    e.cpu_offline();
  };
  std::thread w1(walker, 1), w2(walker, 2);
  // Each head is a FIFO window of SPTEs: add a fresh one, remove the oldest
  // (found at the end of the chain, filled from the first descriptor).
  std::vector<std::vector<size_t>> in(kHeads);
  std::mt19937 rng(11);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds());
  size_t next = 0;
  while (next < kPool && (Clock::now() < end || walks.load() < 1000)) {
    for (int k = 0; k < 16 && next < kPool; ++k) {
      const int h = static_cast<int>(rng() % kHeads);
      const size_t depth = h < kSingle ? 1 : 1 + rng() % kDepth;
      while (in[h].size() >= depth) {
        ASSERT_TRUE(r.remove(&heads[h], &pool[in[h].front()].spte));
        in[h].erase(in[h].begin());
      }
      pool[next].payload = payload_of(next);
      ASSERT_GE(r.add(&heads[h], &pool[next].spte, AllocMode::kMayBlock), 0);
      in[h].push_back(next++);
    }
    e.quiescent_state();
    e.poll();
  }
  stop = true;
  w1.join();
  w2.join();
  EXPECT_EQ(bad.load(), 0u) << "walks: " << walks.load();
  EXPECT_GT(seen.load(), 0u);
  for (int h = 0; h < kHeads; ++h)
    for (size_t i : in[h]) ASSERT_TRUE(r.remove(&heads[h], &pool[i].spte));
  e.barrier();
  EXPECT_TRUE(descs.destroy());
  std::printf("rmap payload stress: %zu fresh SPTEs, %llu walks, %llu SPTEs read\n", next,
              static_cast<unsigned long long>(walks.load()),
              static_cast<unsigned long long>(seen.load()));
}

// ---------------- (b) epochs with poison on free ----------------

struct Obj {
  uint64_t a, b;  // b == ~a while live; the arena fills freed pages with 0x6b
};

struct Holder {
  host::Arena* arena;
  Epoch* e;
};
Holder* g_holder;

void free_obj_page(EpochCallback* cb) {
  auto* m = reinterpret_cast<PageMeta*>(cb);
  g_holder->arena->platform()->free(m->pa, 1);
}

void epoch_stress(size_t bound) {
  host::Arena arena(4096);
  Epoch e;
  e.init(arena.platform(), bound);
  Holder holder{&arena, &e};
  g_holder = &holder;
  const Platform* p = arena.platform();
  auto fresh = [&](uint64_t v) {
    const uint64_t pa = p->alloc(1, AllocMode::kMayBlock);
    auto* o = p->va<Obj>(pa);
    o->a = v;
    o->b = ~v;
    return o;
  };
  std::atomic<Obj*> shared{fresh(1)};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  auto reader = [&](unsigned cpu) {
    host::set_cpu(cpu);
    e.cpu_online();
    for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      {
        EpochReadGuard g(e);
        Obj* o = shared.load(std::memory_order_acquire);
        for (int k = 0; k < 4; ++k) {
          if (o->b != ~o->a || o->a == host::kPoisonWord) bad.fetch_add(1);
        }
      }
      reads.fetch_add(1, std::memory_order_relaxed);
      if (n % 64 == 63) {  // an idle period now and then: extended QS
        e.cpu_offline();
        std::this_thread::yield();
        e.cpu_online();
      } else {
        e.quiescent_state();
      }
    }
    e.cpu_offline();
  };
  std::thread r1(reader, 1), r2(reader, 2);
  host::set_cpu(0);
  e.cpu_online();
  const auto end = Clock::now() + std::chrono::duration<double>(seconds());
  uint64_t v = 2, syncs = 0;
  while (Clock::now() < end || reads.load() < 1000) {
    Obj* old = shared.exchange(fresh(v++), std::memory_order_acq_rel);
    PageMeta* m = p->meta(p->pa(old));
    m->pa = p->pa(old);
    if (v % 50 == 0) {
      e.synchronize();  // the blocking form
      ++syncs;
      p->free(m->pa, 1);
    } else if (!e.call(&m->rcu, &free_obj_page)) {
      e.barrier();  // back-pressure: drain before queueing more
    }
    e.poll();
  }
  stop = true;
  r1.join();
  r2.join();
  e.barrier();
  p->free(p->pa(shared.load()), 1);
  EXPECT_EQ(bad.load(), 0u) << "a reader saw a freed (poisoned) object";
  EXPECT_EQ(arena.allocated_pages(), 0u);
  const Epoch::Stats st = e.stats();
  EXPECT_GT(st.callbacks_run, 0u);
  EXPECT_LE(st.max_pending, bound + 1) << "back-pressure keeps the queue bounded";
  std::printf("epoch stress: %llu objects, %llu reads, %llu GPs, %llu synchronize, max pending %llu\n",
              static_cast<unsigned long long>(v), static_cast<unsigned long long>(reads.load()),
              static_cast<unsigned long long>(st.gp_started), static_cast<unsigned long long>(syncs),
              static_cast<unsigned long long>(st.max_pending));
}

TEST(EpochStress, ReadersNeverSeeFreedMemory) { epoch_stress(256); }
TEST(EpochStress, BackPressureWithATinyBound) { epoch_stress(4); }

// ---------------- (c) dirty_log_test: zero lost dirty pages ----------------

struct DirtyLogParams {
  bool lockless;
  bool eager;
  bool manual;
  const char* name;
  bool pml = false;
};

// Printed by name: CTest's test names carry GetParam()'s printout, which would
// otherwise be the struct's bytes (a pointer among them, different per build).
void PrintTo(const DirtyLogParams& p, std::ostream* os) { *os << p.name; }

class DirtyLogStress : public ::testing::TestWithParam<DirtyLogParams> {};

// A TLB entry: none, writable, or writable with D cached (PML: no D update).
enum : char { kTlbNone = 0, kTlbWritable = 1, kTlbDirty = 2 };

struct Vcpu {
  std::mutex tlb_lock;  // held for one "instruction": walk, TLB fill and store
  std::vector<char> tlb_w;
  std::vector<uint64_t> pml;  // the page-modification log, drained at "exits"
};

}  // namespace

struct MmuTestAccess {
  // What the processor does for a write through a translation whose cached D
  // is clear: set D on the SPTE in memory with a locked RMW, and append the
  // page to the page-modification log if D was clear. False if the SPTE is
  // no longer writable: the walk faults instead.
  static bool set_dirty(Mmu& m, uint64_t gfn, std::vector<uint64_t>* pml) {
    EpochReadGuard g(*m.epoch_);
    int level;
    uint64_t v;
    Spte* s = m.walk_lockless(gfn, &level, &v);
    while (ept::is_present(v) && ept::is_writable(v)) {
      if (v & ept::kDirty) return true;
      if (s->compare_exchange_weak(v, v | ept::kDirty)) {
        pml->push_back((gfn << 12) | 0xfff);  // with Bochs 2.7's low bits, which must not matter
        return true;
      }
    }
    return false;
  }
};

namespace {

TEST_P(DirtyLogStress, ZeroLostDirtyPages) {
  const DirtyLogParams prm = GetParam();
  constexpr uint64_t kPages = 8 * 512;  // 8 huge pages before logging
  constexpr uint64_t kBase = 0x100000;  // 4 GiB, 2M-aligned; backing aligned too
  constexpr unsigned kVcpus = 3;  // vCPU 0 writes in order, the others at random: one MMU, three faulting
  host::Arena arena(8192);
  Epoch e;
  e.init(arena.platform(), 1 << 14);
  ObjectCache descs;
  ASSERT_TRUE(descs.init(arena.platform(), &e, sizeof(PteListDesc)));
  MmuSwitches sw;
  sw.rmap_lockless = prm.lockless;
  sw.eager_split = prm.eager;
  sw.pml = prm.pml;
  Mmu::Config cfg;
  cfg.manual_protect = prm.manual;
  Mmu mmu;
  host::set_cpu(0);
  ASSERT_TRUE(e.cpu_online());
  ASSERT_TRUE(mmu.init(arena.platform(), &e, &descs, sw, cfg));
  ASSERT_EQ(mmu.set_memory_region(0, kBase, kPages, 0x200000, 0), 0);
  ASSERT_EQ(mmu.populate(0), 0);

  std::vector<std::atomic<uint64_t>> mem(kPages);
  std::vector<uint64_t> copy(kPages, 0);
  std::vector<Vcpu> vcpus(kVcpus);
  for (auto& v : vcpus) v.tlb_w.assign(kPages, 0);
  // Fill every TLB as if the guest ran before logging (huge writable maps).
  for (auto& v : vcpus) std::fill(v.tlb_w.begin(), v.tlb_w.end(), 1);
  // INVEPT + IPI: returns only when every vCPU has finished its instruction
  // and dropped its cached translations.
  arena.set_flush_hook([&](uint64_t) {
    for (auto& v : vcpus) {
      std::lock_guard<std::mutex> g(v.tlb_lock);
      std::fill(v.tlb_w.begin(), v.tlb_w.end(), 0);
    }
  });
  ASSERT_EQ(mmu.set_memory_region(0, kBase, kPages, 0x200000, kLogDirtyPages), 0);
  for (uint64_t p = 0; p < kPages; ++p) copy[p] = mem[p].load();  // round 0: copy all

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0}, faults{0};
  // Harvest H (0-based) runs while harvests_started == H + 1. A vCPU reads it
  // before each write and stores it in the value written (and in max_round),
  // so memory says in which round a page was last written.
  std::atomic<uint64_t> harvests_started{0};
  std::vector<std::atomic<uint64_t>> max_round(kPages);
  std::vector<uint64_t> last_report(kPages, ~uint64_t{0});
  auto vcpu = [&](unsigned id) {
    host::set_cpu(1 + id);
    e.cpu_online();
    std::mt19937_64 rng(id + 1);
    Vcpu& me = vcpus[id];
    uint64_t seq = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t p = (id == 0) ? (seq % kPages) : (rng() % kPages);  // sequential / random
      ++seq;
      for (;;) {
        bool done = false;
        {
          std::lock_guard<std::mutex> g(me.tlb_lock);
          if (!me.tlb_w[p] && ept::is_writable(mmu.lookup(kBase + p))) me.tlb_w[p] = kTlbWritable;
          if (prm.pml && me.tlb_w[p] == kTlbWritable) {
            me.tlb_w[p] = MmuTestAccess::set_dirty(mmu, kBase + p, &me.pml) ? kTlbDirty : kTlbNone;
            if (me.pml.size() == 512) {  // PML-full exit
              mmu.log_pml(me.pml.data(), me.pml.size());
              me.pml.clear();
            }
          }
          if (me.tlb_w[p]) {
            const uint64_t round = harvests_started.load(std::memory_order_acquire);
            mem[p].store((round << 40) | (uint64_t{id + 1} << 32) | (seq & 0xffffffffu),
                         std::memory_order_release);
            uint64_t seen = max_round[p].load(std::memory_order_relaxed);
            while (seen < round && !max_round[p].compare_exchange_weak(seen, round)) {
            }
            done = true;
          }
        }
        if (done) break;
        faults.fetch_add(1, std::memory_order_relaxed);
        const Fault f = mmu.handle_ept_violation(kBase + p, true);
        ASSERT_TRUE(f == Fault::kFixed || f == Fault::kFixedFast || f == Fault::kSpurious ||
                    f == Fault::kNoMemory);
        e.quiescent_state();  // VM exit / entry
      }
      writes.fetch_add(1, std::memory_order_relaxed);
      if (seq % 32 == 0) e.quiescent_state();
    }
    e.cpu_offline();
  };
  std::vector<uint64_t> log(kPages / 64);
  auto harvest = [&]() -> uint64_t {
    const uint64_t h = harvests_started.fetch_add(1, std::memory_order_acq_rel);
    for (auto& v : vcpus) {  // PML: kick every vCPU out; each drains its log at the exit
      std::lock_guard<std::mutex> g(v.tlb_lock);
      mmu.log_pml(v.pml.data(), v.pml.size());
      v.pml.clear();
    }
    EXPECT_EQ(mmu.get_dirty_log(0, log.data(), log.size()), 0);
    if (prm.manual) {
      EXPECT_EQ(mmu.clear_dirty_log(0, 0, kPages, log.data()), 0);
    }
    uint64_t n = 0;
    for (uint64_t w = 0; w < log.size(); ++w)
      for (uint64_t m = log[w]; m; m &= m - 1) {
        const uint64_t p = w * 64 + static_cast<unsigned>(__builtin_ctzll(m));
        copy[p] = mem[p].load(std::memory_order_acquire);  // copy out after the flush
        last_report[p] = h;
        ++n;
      }
    return n;
  };
  std::vector<std::thread> ts;
  for (unsigned i = 0; i < kVcpus; ++i) ts.emplace_back(vcpu, i);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds());
  uint64_t rounds = 0, reported = 0, cancels = 0;
  const auto give_up = end + std::chrono::seconds(30);  // a dead vCPU thread: fail, not hang
  while (Clock::now() < end || rounds < 20 || (cancels < 2 && Clock::now() < give_up)) {
    // After 8 rounds, once the vCPUs have run on every 2M range (eagerly
    // split, or dropped on their writes with eager_split=0).
    if (cancels < 2 && rounds >= 8 * (cancels + 1) && mmu.count_leaves(2) == 0) {
      // A cancelled migration: logging off (huge pages come back on the
      // vCPUs' next faults, recovered while they fault), the guest runs on,
      // then a new attempt that starts with a full copy again.
      EXPECT_EQ(mmu.set_memory_region(0, kBase, kPages, 0x200000, 0), 0);  // no ASSERT: threads run
      // vCPU 0 writes every page in turn: all come back, unless a vCPU died.
      const auto give_up = Clock::now() + std::chrono::seconds(30);
      while (mmu.count_leaves(2) < kPages / 512 && Clock::now() < give_up) std::this_thread::yield();
      EXPECT_EQ(mmu.count_leaves(2), kPages / 512) << "huge pages back after logging stopped";
      EXPECT_EQ(mmu.set_memory_region(0, kBase, kPages, 0x200000, kLogDirtyPages), 0);
      for (uint64_t p = 0; p < kPages; ++p) copy[p] = mem[p].load(std::memory_order_acquire);
      ++cancels;
    }
    reported += harvest();
    ++rounds;
    e.quiescent_state();
    e.poll();
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : ts) t.join();
  reported += harvest();  // the final round, the source paused
  uint64_t lost = 0, late = 0, raced = 0;
  for (uint64_t p = 0; p < kPages; ++p) {
    const uint64_t v = mem[p].load();
    lost += copy[p] != v;
    // A report by harvest h needs a bit set after harvest h - 1 took the
    // word, i.e. a fault that ended after harvests_started became h; the
    // faulting vCPU then writes with round >= h. So no page is reported later
    // than the round of its newest write. (Not "of its final value": two
    // vCPUs race on a page, and the store of the one that read the older
    // round can land last; harvest h's flush waits for it, so it is copied.)
    if (last_report[p] != ~uint64_t{0} && last_report[p] > max_round[p].load()) ++late;
    raced += (v >> 40) < max_round[p].load();
  }
  EXPECT_EQ(lost, 0u) << "dirty pages lost";
  EXPECT_EQ(late, 0u) << "pages reported by a harvest that began after their newest write";
  char why[160] = "";
  EXPECT_TRUE(mmu.audit(why, sizeof why)) << why;
  EXPECT_EQ(mmu.count_leaves(2), 0u) << "every huge page split (eagerly or on a fault)";
  EXPECT_EQ(cancels, 2u);
  EXPECT_GT(mmu.stats().recovered_huge.load(), 0u) << "huge pages recovered at each cancel";
  std::printf("dirty-log stress [%s]: %llu writes, %llu faults (%llu fast), %llu rounds, %llu pages reported, %llu splits (%llu lazy), %llu flushes, %llu cancels (%llu 2M ranges recovered), %llu pages last stored with an older round, lost %llu\n",
              prm.name, static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(faults.load()),
              static_cast<unsigned long long>(mmu.stats().faults_fast.load()),
              static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(reported),
              static_cast<unsigned long long>(mmu.stats().splits.load()),
              static_cast<unsigned long long>(mmu.stats().lazy_splits.load()),
              static_cast<unsigned long long>(mmu.stats().flushes.load()),
              static_cast<unsigned long long>(cancels),
              static_cast<unsigned long long>(mmu.stats().recovered_huge.load()),
              static_cast<unsigned long long>(raced), static_cast<unsigned long long>(lost));
  arena.set_flush_hook(nullptr);
  mmu.destroy();
  e.barrier();
  EXPECT_TRUE(descs.destroy());
  EXPECT_EQ(arena.allocated_pages(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Switches, DirtyLogStress,
    ::testing::Values(DirtyLogParams{true, true, false, "lockless_eager"},
                      DirtyLogParams{false, true, false, "locked_eager"},
                      DirtyLogParams{true, false, false, "lockless_lazy"},
                      DirtyLogParams{true, true, true, "lockless_manual"},
                      DirtyLogParams{true, true, false, "lockless_pml", true},
                      DirtyLogParams{false, false, true, "locked_lazy_manual_pml", true}),
    [](const ::testing::TestParamInfo<DirtyLogParams>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace hv::mm
