#include "hosttests/mmu/host_platform.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define HV_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define HV_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define HV_POISON(p, n) ((void)(p), (void)(n))
#define HV_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace hv::mm::host {
namespace {
thread_local unsigned t_cpu = 0;
}

void set_cpu(unsigned id) { t_cpu = id; }
unsigned current_cpu() { return t_cpu; }

Arena::Arena(size_t pages) : pages_(pages), meta_(pages) {
  mem_ = static_cast<unsigned char*>(std::aligned_alloc(4096, pages * 4096));
  std::memset(mem_, kPoisonByte, pages * 4096);
  HV_POISON(mem_, pages * 4096);
  const uint64_t max_phys = kPhysBase + pages * 4096;
  fa_storage_.resize(FrameAllocator::storage_words_for(max_phys));
  if (!fa_.init(fa_storage_.data(), fa_storage_.size(), max_phys)) std::abort();
  fa_.add_free({kPhysBase, max_phys});
  plat_.ctx = this;
  plat_.phys_to_virt = &p2v;
  plat_.virt_to_phys = &v2p;
  plat_.alloc_pages = &alloc;
  plat_.free_pages = &free;
  plat_.page_meta = &meta;
  plat_.flush_tlb = &flush;
  plat_.cpu_id = &cpu;
  plat_.relax = &relax;
}

Arena::~Arena() {
  HV_UNPOISON(mem_, pages_ * 4096);
  std::free(mem_);
}

size_t Arena::free_pages() const {
  std::lock_guard<std::mutex> g(mu_);
  return fa_.free_frames();
}

bool Arena::owns(const void* p) const {
  auto* c = static_cast<const unsigned char*>(p);
  return c >= mem_ && c < mem_ + pages_ * 4096;
}

void* Arena::p2v(void* ctx, uint64_t pa) {
  auto* a = static_cast<Arena*>(ctx);
  if (pa < kPhysBase || pa >= kPhysBase + a->pages_ * 4096) std::abort();
  return a->mem_ + (pa - kPhysBase);
}

uint64_t Arena::v2p(void* ctx, const void* va) {
  auto* a = static_cast<Arena*>(ctx);
  if (!a->owns(va)) std::abort();
  return kPhysBase + static_cast<uint64_t>(static_cast<const unsigned char*>(va) - a->mem_);
}

uint64_t Arena::alloc(void* ctx, size_t count, AllocMode m) {
  auto* a = static_cast<Arena*>(ctx);
  if (a->fail_all_.load() || (m == AllocMode::kNoWait && a->fail_nowait_.load())) return 0;
  uint64_t pa;
  {
    std::lock_guard<std::mutex> g(a->mu_);
    pa = count == 1 ? a->fa_.alloc() : a->fa_.alloc_contiguous(count, 1);
  }
  if (pa == 0) return 0;
  a->allocated_ += count;
  HV_UNPOISON(p2v(ctx, pa), count * 4096);
  return pa;
}

void Arena::free(void* ctx, uint64_t pa, size_t count) {
  auto* a = static_cast<Arena*>(ctx);
  void* v = p2v(ctx, pa);
  std::memset(v, kPoisonByte, count * 4096);
  HV_POISON(v, count * 4096);
  std::lock_guard<std::mutex> g(a->mu_);
  if (!a->fa_.free_contiguous(pa, count)) std::abort();  // a double free in mm/
  a->allocated_ -= count;
}

PageMeta* Arena::meta(void* ctx, uint64_t pa) {
  auto* a = static_cast<Arena*>(ctx);
  if (pa < kPhysBase || pa >= kPhysBase + a->pages_ * 4096) return nullptr;
  return &a->meta_[(pa - kPhysBase) / 4096];
}

void Arena::flush(void* ctx, uint64_t eptp) {
  auto* a = static_cast<Arena*>(ctx);
  a->flushes_.fetch_add(1);
  if (a->flush_hook_) a->flush_hook_(eptp);
}

unsigned Arena::cpu(void*) { return t_cpu; }
void Arena::relax(void*) { std::this_thread::yield(); }

}  // namespace hv::mm::host
