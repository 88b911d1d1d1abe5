// The host binding of hv::mm::Platform: an arena of "physical" pages handed out
// by the kernel's own FrameAllocator (under a mutex), a per-frame PageMeta
// array, CPU ids per std::thread, and a TLB-flush request that tests observe.
//
// Physical addresses are arena offsets plus kPhysBase, so that code mixing up
// physical and virtual addresses fails. Freed pages are filled with 0x6b
// (Linux's POISON_FREE) and, in an AddressSanitizer build, poisoned, so that a
// read of memory freed too early is caught.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "mm/frame_allocator.h"
#include "mm/platform.h"

namespace hv::mm::host {

inline constexpr uint64_t kPoisonByte = 0x6b;
inline constexpr uint64_t kPoisonWord = 0x6b6b6b6b6b6b6b6bull;

// The calling thread's CPU id (default 0). Each test thread sets its own.
void set_cpu(unsigned id);
unsigned current_cpu();

class Arena {
 public:
  explicit Arena(size_t pages);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  const Platform* platform() const { return &plat_; }
  size_t free_pages() const;
  size_t allocated_pages() const { return allocated_.load(); }
  uint64_t flushes() const { return flushes_.load(); }
  bool owns(const void* p) const;

  // Make kNoWait allocations fail (tests the fallback paths).
  void set_fail_nowait(bool f) { fail_nowait_.store(f); }
  // Make every allocation fail.
  void set_fail_all(bool f) { fail_all_.store(f); }
  // Called (from the flushing thread, no MMU lock held) on each TLB flush.
  void set_flush_hook(std::function<void(uint64_t eptp)> h) { flush_hook_ = std::move(h); }

 private:
  static void* p2v(void* ctx, uint64_t pa);
  static uint64_t v2p(void* ctx, const void* va);
  static uint64_t alloc(void* ctx, size_t count, AllocMode m);
  static void free(void* ctx, uint64_t pa, size_t count);
  static PageMeta* meta(void* ctx, uint64_t pa);
  static void flush(void* ctx, uint64_t eptp);
  static unsigned cpu(void* ctx);
  static void relax(void* ctx);

  static constexpr uint64_t kPhysBase = uint64_t{1} << 32;

  size_t pages_;
  unsigned char* mem_;
  std::vector<PageMeta> meta_;
  std::vector<uint64_t> fa_storage_;
  FrameAllocator fa_;
  mutable std::mutex mu_;
  std::atomic<size_t> allocated_{0};
  std::atomic<uint64_t> flushes_{0};
  std::atomic<bool> fail_nowait_{false};
  std::atomic<bool> fail_all_{false};
  std::function<void(uint64_t)> flush_hook_;
  Platform plat_;
};

}  // namespace hv::mm::host
