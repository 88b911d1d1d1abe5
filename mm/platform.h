// The narrow interface through which the MMU core talks to the machine.
//
// Everything in mm/ (epochs, object caches, rmap, EPT tables, memslots, dirty
// logs, split, MMIO generations) is portable C++ that reaches the hardware only
// through one `Platform` value. The kernel binds it to the direct map, the frame
// allocator, INVEPT + IPIs and the per-CPU area; the host tests bind it to an
// arena and std::thread (hosttests/mmu/host_platform.*). The algorithms never
// test which binding they run on: no #ifdef HOST inside them.
//
// A plain struct of function pointers plus a context rather than a class with
// virtual functions: it is constant-initialisable, needs no vtable or
// __cxa_pure_virtual in the kernel, and several instances (one per test) can
// coexist.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace hv::mm {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

// Upper bound on CPU ids handed out by Platform::cpu_id(). Fixed so that every
// per-CPU array in mm/ is a plain member (no hidden allocation).
inline constexpr unsigned kMaxCpus = 64;

enum class AllocMode : uint8_t {
  // May wait (for reclaim, for other CPUs): only outside the MMU lock.
  kMayBlock,
  // Must not wait; may fail. The path used under the MMU lock (seed 002's
  // GFP_NOWAIT), with kMayBlock as the fallback after dropping the lock.
  kNoWait,
};

// Per-frame metadata the platform keeps for every frame it can hand out
// (the kernel's "mem_map", Linux's struct page). mm/ uses it to find the
// bookkeeping of a page from its physical address without writing into the
// page itself: a page-table page or a descriptor page that lockless walkers
// may still read must not have a list link or a callback written over its
// contents until a grace period has passed.
struct EpochCallback {
  EpochCallback* next = nullptr;
  void (*fn)(EpochCallback*) = nullptr;
  uint64_t target = 0;  // grace period that must complete before fn runs
};

struct PageMeta {
  EpochCallback rcu;       // deferred free of this page
  void* owner = nullptr;   // the object (cache, EPT) that owns the page
  uint64_t pa = 0;         // the frame's own address, filled by the user
  PageMeta* next = nullptr;  // owner's lists (object cache partial list)
  PageMeta* prev = nullptr;
  uint64_t aux = 0;        // owner-specific (free-slot bitmap, level|gfn, ...)
  uint64_t aux2 = 0;
};

struct Platform {
  void* ctx = nullptr;

  // The direct map. phys_to_virt() of any page obtained from alloc_pages()
  // gives a writable mapping; virt_to_phys() inverts it on such mappings.
  void* (*phys_to_virt)(void* ctx, uint64_t pa) = nullptr;
  uint64_t (*virt_to_phys)(void* ctx, const void* va) = nullptr;

  // `count` physically contiguous pages, 4 KiB aligned, contents undefined;
  // 0 on failure. free_pages() takes back exactly what alloc_pages() gave.
  uint64_t (*alloc_pages)(void* ctx, size_t count, AllocMode mode) = nullptr;
  void (*free_pages)(void* ctx, uint64_t pa, size_t count) = nullptr;

  // Metadata of the frame at `pa` (any frame from alloc_pages()).
  PageMeta* (*page_meta)(void* ctx, uint64_t pa) = nullptr;

  // Invalidate every translation derived from the EPT hierarchy `eptp` on
  // every CPU that may cache it, and return only when that is done (INVEPT
  // single-context here, IPIs to the CPUs running the guest). Always called
  // with no MMU lock held, so that the IPI targets can take it.
  void (*flush_tlb)(void* ctx, uint64_t eptp) = nullptr;

  // The calling CPU, in [0, kMaxCpus).
  unsigned (*cpu_id)(void* ctx) = nullptr;

  // Spin-wait body: PAUSE in the kernel, a yield on the host. Epoch hooks:
  // kick_cpus (nullable) asks every CPU to pass a quiescent state soon (the
  // kernel sends a reschedule IPI so that a long-running guest exits).
  void (*relax)(void* ctx) = nullptr;
  void (*kick_cpus)(void* ctx) = nullptr;

  // Deadlines of cross-CPU waits (all nullable: no deadline). clock() is a
  // monotonic tick count, wait_limit() the ticks a wait may last;
  // unresponsive() names the CPU that made a wait overrun (the kernel ends
  // the run there; a host test may make the CPU answer and return).
  uint64_t (*clock)(void* ctx) = nullptr;
  uint64_t (*wait_limit)(void* ctx) = nullptr;
  void (*unresponsive)(void* ctx, unsigned cpu, const char* what) = nullptr;

  // Convenience wrappers, so that call sites read like the kernel's.
  template <typename T = void>
  T* va(uint64_t pa) const { return static_cast<T*>(phys_to_virt(ctx, pa)); }
  uint64_t pa(const void* v) const { return virt_to_phys(ctx, v); }
  uint64_t alloc(size_t count, AllocMode m) const { return alloc_pages(ctx, count, m); }
  void free(uint64_t pa, size_t count) const { free_pages(ctx, pa, count); }
  PageMeta* meta(uint64_t pa) const { return page_meta(ctx, pa); }
  void flush(uint64_t eptp) const { flush_tlb(ctx, eptp); }
  unsigned cpu() const { return cpu_id(ctx); }
  void pause() const { relax(ctx); }
  void kick() const { if (kick_cpus) kick_cpus(ctx); }
  // A wait's start, and whether it has overrun its deadline since.
  uint64_t wait_start() const { return clock ? clock(ctx) : 0; }
  bool overdue(uint64_t start) const {
    return clock && wait_limit && unresponsive && clock(ctx) - start > wait_limit(ctx);
  }
};

}  // namespace hv::mm
