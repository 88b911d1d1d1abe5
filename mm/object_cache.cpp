#include "mm/object_cache.h"

#include <atomic>

namespace hv::mm {
namespace {

constexpr unsigned ctz(uint64_t x) { return static_cast<unsigned>(__builtin_ctzll(x)); }

// PageMeta::aux = bitmap of free slots; aux2 = number of live objects.
// PageMeta::rcu is the first member of PageMeta (standard layout), so the
// callback pointer converts back to its PageMeta.
PageMeta* meta_of(EpochCallback* cb) { return reinterpret_cast<PageMeta*>(cb); }

}  // namespace

bool ObjectCache::init(const Platform* p, Epoch* e, size_t obj_size) {
  if (!p || !e || obj_size == 0 || obj_size > kPageSize) return false;
  p_ = p;
  epoch_ = e;
  obj_size_ = (obj_size + kMinObjectSize - 1) & ~(kMinObjectSize - 1);
  per_page_ = kPageSize / obj_size_;
  full_mask_ = per_page_ == 64 ? ~uint64_t{0} : (uint64_t{1} << per_page_) - 1;
  partial_ = spare_ = nullptr;
  stats_ = Stats{};
  return true;
}

void ObjectCache::list_add(PageMeta* m) {
  m->prev = nullptr;
  m->next = partial_;
  if (partial_) partial_->prev = m;
  partial_ = m;
}

void ObjectCache::list_del(PageMeta* m) {
  if (m->prev) m->prev->next = m->next; else partial_ = m->next;
  if (m->next) m->next->prev = m->prev;
  m->next = m->prev = nullptr;
}

void ObjectCache::free_page_cb(EpochCallback* cb) {
  PageMeta* m = meta_of(cb);
  ObjectCache* c = static_cast<ObjectCache*>(m->owner);
  const uint64_t pa = m->pa;
  {
    LockGuard g(c->lock_);
    ++c->stats_.pages_freed;
    m->owner = nullptr;  // frees of objects in this page are now foreign
  }
  c->p_->free(pa, 1);
}

void ObjectCache::retire_locked(PageMeta* m) {
  // The page leaves every list, so alloc() can no longer hand out its
  // objects; stale readers may still read them until the grace period ends.
  // Back-pressure from call() is left to the owner (it sees epoch pending()).
  --stats_.pages;
  ++stats_.pages_retired;
  stats_.free_objects -= per_page_;
  epoch_->call(&m->rcu, &free_page_cb);
}

void* ObjectCache::alloc(AllocMode mode) {
  for (;;) {
    {
      LockGuard g(lock_);
      PageMeta* m = partial_;
      if (!m && spare_) {
        m = spare_;
        spare_ = nullptr;
        list_add(m);
      }
      if (m) {
        const unsigned slot = ctz(m->aux);
        m->aux &= m->aux - 1;
        ++m->aux2;
        if (m->aux == 0) list_del(m);  // full pages are on no list
        ++stats_.live;
        --stats_.free_objects;
        return p_->va<char>(m->pa) + slot * obj_size_;
      }
    }
    if (!add_page(mode)) return nullptr;
  }
}

bool ObjectCache::add_page(AllocMode mode) {
  const uint64_t pa = p_->alloc(1, mode);
  if (pa == 0) return false;
  char* v = p_->va<char>(pa);
  for (size_t i = 0; i < kPageSize; ++i) v[i] = 0;
  PageMeta* m = p_->meta(pa);
  *m = PageMeta{};
  m->owner = this;
  m->pa = pa;
  m->aux = full_mask_;  // every slot free
  LockGuard g(lock_);
  ++stats_.pages;
  stats_.free_objects += per_page_;
  list_add(m);
  return true;
}

bool ObjectCache::reserve(size_t n, AllocMode mode) {
  for (;;) {
    {
      LockGuard g(lock_);
      if (stats_.free_objects >= n) return true;
    }
    if (!add_page(mode)) return false;
  }
}

bool ObjectCache::free(void* obj) {
  if (!obj) return false;
  const uint64_t opa = p_->pa(obj);
  const uint64_t pa = opa & ~(kPageSize - 1);
  const uint64_t off = opa - pa;
  LockGuard g(lock_);
  PageMeta* m = p_->meta(pa);
  if (!m || m->owner != this || off % obj_size_ != 0 || off / obj_size_ >= per_page_) {
    ++stats_.refused_frees;
    return false;
  }
  const uint64_t bit = uint64_t{1} << (off / obj_size_);
  if (m->aux & bit) {  // already free
    ++stats_.refused_frees;
    return false;
  }
  const bool was_full = m->aux == 0;
  m->aux |= bit;
  --m->aux2;
  --stats_.live;
  ++stats_.free_objects;
  if (was_full) list_add(m);
  if (m->aux2 == 0) {
    list_del(m);
    if (spare_ == nullptr) {
      spare_ = m;
    } else {
      retire_locked(m);
    }
  }
  return true;
}

void ObjectCache::shrink() {
  LockGuard g(lock_);
  if (spare_) {
    retire_locked(spare_);
    spare_ = nullptr;
  }
}

bool ObjectCache::destroy() {
  {
    LockGuard g(lock_);
    if (stats_.live != 0) return false;
    if (spare_) {
      retire_locked(spare_);
      spare_ = nullptr;
    }
    // With no live object every remaining page is completely free: pages
    // filled by reserve() and never used sit on the partial list.
    while (PageMeta* m = partial_) {
      list_del(m);
      retire_locked(m);
    }
  }
  return epoch_->barrier();
}

ObjectCache::Stats ObjectCache::stats() const {
  LockGuard g(lock_);
  return stats_;
}

}  // namespace hv::mm
