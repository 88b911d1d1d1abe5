// Type-stable object caches: the SLAB_TYPESAFE_BY_RCU contract.
//
// An object returned by free() may be handed out again by alloc() at once, but
// only as an object of the same cache (same type and size), and the page that
// holds it goes back to the platform only a grace period after it became
// completely free. A lockless reader inside an epoch read section may
// therefore still dereference a pointer to a freed object: it reads an object
// of the right type (perhaps reused for something else, which the reader must
// detect itself: the rmap's nulls marker), never unmapped or foreign memory.
//
// For the same reason the cache never writes into a freed object: free-slot
// bookkeeping lives in the page's PageMeta (a 64-bit bitmap), not in a free
// list threaded through the objects as an ordinary allocator would do. A
// reader racing with free() sees the object's last contents.
//
// Thread-safe (a spinlock per cache). alloc() with AllocMode::kNoWait never
// waits; kMayBlock may wait inside the platform's page allocator.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mm/epoch.h"
#include "mm/platform.h"
#include "mm/sync.h"

namespace hv::mm {

class ObjectCache {
 public:
  static constexpr size_t kMinObjectSize = 64;  // <= 64 slots per page

  struct Stats {
    uint64_t pages = 0;           // pages currently owned
    uint64_t live = 0;            // objects allocated and not freed
    uint64_t pages_retired = 0;   // pages handed to the epoch for freeing
    uint64_t pages_freed = 0;     // pages returned to the platform
    uint64_t refused_frees = 0;   // double or foreign frees
    uint64_t free_objects = 0;    // free slots in owned pages
  };

  // obj_size is rounded up to a multiple of 64 (a cache line, so that two
  // objects never share one); must be <= 4096. Returns false otherwise.
  bool init(const Platform* p, Epoch* e, size_t obj_size);

  // nullptr when the platform has no page (kNoWait may fail more often).
  // The object's contents are whatever it held last (zero for a new page):
  // the caller initialises it in an order safe for concurrent readers.
  void* alloc(AllocMode mode);

  // false, changing nothing, if `obj` is not a live object of this cache.
  bool free(void* obj);

  // Makes sure at least `n` objects can be allocated without a new page
  // (KVM's cache top-up before taking the MMU lock). false if the platform
  // ran out. Concurrent users may still consume them first.
  bool reserve(size_t n, AllocMode mode);

  // Retires every completely free page (the spare too). Outside locks.
  void shrink();

  // Retires all pages; every object must have been freed (returns false and
  // keeps the pages otherwise). Waits for the frees through epoch barrier().
  bool destroy();

  Stats stats() const;
  size_t object_size() const { return obj_size_; }
  size_t objects_per_page() const { return per_page_; }

 private:
  static void free_page_cb(EpochCallback* cb);
  // A fresh zeroed page with every slot free, on the partial list; false when
  // the platform has none.
  bool add_page(AllocMode mode);
  void list_add(PageMeta* m);
  void list_del(PageMeta* m);
  void retire_locked(PageMeta* m);

  const Platform* p_ = nullptr;
  Epoch* epoch_ = nullptr;
  size_t obj_size_ = 0;
  size_t per_page_ = 0;
  uint64_t full_mask_ = 0;

  mutable SpinLock lock_;
  PageMeta* partial_ = nullptr;  // pages with at least one free slot
  PageMeta* spare_ = nullptr;    // at most one completely free page kept
  Stats stats_;
};

}  // namespace hv::mm
