// EPT table pages and their reservation: one guest's appetite never starves
// another's page tables, and teardown never needs memory.
//
// When a slot is created (memory granted), the pages its tables could need
// at worst (mapped 4K throughout: one table per 2M, 1G and 512G range it
// touches) are taken from the platform into this MMU's pool, or the slot is
// refused with -ENOMEM and nothing changes. Tables for slot mappings and
// splits come from the pool; a table that comes back after its grace period
// returns to the pool while the pool and the live tables are below the
// reservation, to the platform otherwise. So a vCPU fault inside a slot
// finds its table even when a control guest has taken every other page of
// the machine. Tables for MMIO SPTEs are not reserved (a guest may touch any
// gfn): they are taken kNoWait, and without one the access is emulated
// uncached (mm/mmio_gen.cpp).
//
// The count is an upper bound: tables shared by neighbouring slots are
// counted once per slot. Tables awaiting their grace period still count as
// allocated; topup_locked() waits for a barrier to bring them back when the
// pool is short.
//
// Teardown (deleting a slot, turning logging off) publishes a new slot array
// like any change; when the platform has no page for it, it takes the spare
// array kept for that, and the array it replaces becomes the next spare
// after a grace period (retire_array()).
#include "mm/mmu.h"

namespace hv::mm {

using namespace ept;

namespace {
// PageMeta::rcu is the first member of PageMeta (standard layout).
PageMeta* meta_of(EpochCallback* cb) { return reinterpret_cast<PageMeta*>(cb); }
}  // namespace

size_t Mmu::tables_for(uint64_t base_gfn, uint64_t npages) {
  if (npages == 0) return 0;
  size_t n = 0;
  for (int l = 1; l <= 3; ++l) {  // a level-l table spans one level-(l+1) entry
    const uint64_t span = pages_per_level(l + 1);
    n += static_cast<size_t>((base_gfn + npages - 1) / span - base_gfn / span + 1);
  }
  return n;
}

int Mmu::reserve_tables(size_t n) {
  PageMeta* got = nullptr;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t pa = p_->alloc(1, AllocMode::kMayBlock);
    if (!pa) {
      while (got) {
        PageMeta* next = got->next;
        p_->free(got->pa, 1);
        got = next;
      }
      return -kENOMEM;
    }
    PageMeta* m = p_->meta(pa);
    m->pa = pa;
    m->next = got;
    got = m;
  }
  LockGuard g(pool_lock_);
  while (got) {
    PageMeta* next = got->next;
    got->next = pool_;
    pool_ = got;
    ++pool_n_;
    got = next;
  }
  reserved_ += n;
  return 0;
}

void Mmu::unreserve_tables(size_t n) {
  {
    LockGuard g(pool_lock_);
    reserved_ -= n;
  }
  trim_pool();
}

void Mmu::trim_pool() {
  PageMeta* extra = nullptr;
  {
    LockGuard g(pool_lock_);
    while (pool_ && pool_n_ + tables_ > reserved_) {
      PageMeta* m = pool_;
      pool_ = m->next;
      --pool_n_;
      m->next = extra;
      extra = m;
    }
  }
  while (extra) {  // the platform's lock is not taken under pool_lock_
    PageMeta* next = extra->next;
    p_->free(extra->pa, 1);
    extra = next;
  }
}

void Mmu::drop_reservations() {
  {
    LockGuard g(pool_lock_);
    reserved_ = 0;
    tables_ = 0;  // the root and every table are gone
  }
  trim_pool();
}

uint64_t Mmu::alloc_table_locked(int level, bool reserved) {
  uint64_t pa = 0;
  if (reserved) {
    LockGuard g(pool_lock_);
    if (PageMeta* m = pool_) {
      pool_ = m->next;
      --pool_n_;
      pa = m->pa;
    }
  }
  if (!pa) pa = p_->alloc(1, AllocMode::kNoWait);
  if (!pa) return 0;
  Spte* t = table(pa);
  for (unsigned i = 0; i < 512; ++i) t[i].store(0, std::memory_order_relaxed);
  PageMeta* m = p_->meta(pa);
  *m = PageMeta{};
  m->owner = this;
  m->pa = pa;
  m->aux = static_cast<uint64_t>(level);
  m->aux2 = reserved;
  if (reserved) {
    LockGuard g(pool_lock_);
    ++tables_;
  }
  return pa;
}

bool Mmu::topup_locked(size_t n) {
  bool reaped = false;
  for (;;) {
    {
      LockGuard g(pool_lock_);
      if (pool_n_ >= n) return true;
    }
    mmu_lock_.unlock();
    const uint64_t pa = p_->alloc(1, AllocMode::kMayBlock);
    if (pa) {
      PageMeta* m = p_->meta(pa);
      m->pa = pa;
      LockGuard g(pool_lock_);
      m->next = pool_;
      pool_ = m;
      ++pool_n_;  // above the reservation for a while: trimmed as tables come back
    } else if (!reaped) {
      // Tables awaiting their grace period are this MMU's too: wait for
      // them (no lock held, in no read section: the fault path's slow half).
      reaped = true;
      epoch_->barrier();
    }
    mmu_lock_.lock();
    if (!pa && reaped) {
      LockGuard g(pool_lock_);
      return pool_n_ >= n;
    }
  }
}

void Mmu::free_table_cb(EpochCallback* cb) {
  PageMeta* m = meta_of(cb);
  Mmu* mmu = static_cast<Mmu*>(m->owner);
  if (m->aux2) mmu->release_table(m->pa);
  else mmu->p_->free(m->pa, 1);
}

void Mmu::release_table(uint64_t pa) {
  {
    LockGuard g(pool_lock_);
    --tables_;
    if (pool_n_ + tables_ < reserved_) {
      PageMeta* m = p_->meta(pa);
      m->next = pool_;
      pool_ = m;
      ++pool_n_;
      return;
    }
  }
  p_->free(pa, 1);
}

void Mmu::free_table_deferred(uint64_t pa) {
  // Lockless walkers (fast page fault, MMIO check, stale rmap pointers) may
  // still read the table: it goes back only after a grace period (seed 000,
  // "RCU-deferred freeing of shadow page-table pages"). The callback lives in
  // the frame's PageMeta, never in the page itself.
  PageMeta* m = p_->meta(pa);
  m->owner = this;
  m->pa = pa;
  stats_.tables_freed.fetch_add(1, std::memory_order_relaxed);
  if (!epoch_->call(&m->rcu, &free_table_cb)) need_barrier_ = true;
}

uint64_t Mmu::alloc_array(bool teardown) {
  const uint64_t pa = p_->alloc(kMemslotArrayPages, AllocMode::kMayBlock);
  if (pa || !teardown || !spare_array_pa_) return pa;
  const uint64_t spare = spare_array_pa_;
  spare_array_pa_ = 0;
  return spare;
}

void Mmu::retire_array(uint64_t pa) {
  if (spare_array_pa_) {
    free_deferred(pa, kMemslotArrayPages);
    return;
  }
  // The spare went to a teardown: this array becomes the next one once no
  // reader can hold it. synchronize() refuses inside a read section (a test
  // hook): then it is freed the usual way and the spare stays empty.
  if (epoch_->synchronize()) spare_array_pa_ = pa;
  else free_deferred(pa, kMemslotArrayPages);
}

}  // namespace hv::mm
