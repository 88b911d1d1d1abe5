#include "mm/epoch.h"

namespace hv::mm {

void Epoch::init(const Platform* p, size_t max_pending) {
  p_ = p;
  max_pending_ = max_pending;
  gp_seq_.store(0, std::memory_order_relaxed);
  done_hw_.store(0, std::memory_order_relaxed);
  for (Cpu& c : cpus_) {
    c.qs.store(kOffline, std::memory_order_relaxed);
    c.nesting.store(0, std::memory_order_relaxed);
  }
  head_ = tail_ = nullptr;
  need_gp_ = false;
  pending_.store(0, std::memory_order_relaxed);
  stats_ = Stats{};
  misuse_.store(0, std::memory_order_relaxed);
}

bool Epoch::cpu_online() {
  Cpu& c = cpus_[p_->cpu()];
  if (c.qs.load(std::memory_order_relaxed) != kOffline) {
    misuse_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Ordering step 4: the Dekker pair with the reclaimer.
  c.qs.store(0, std::memory_order_seq_cst);
  const uint64_t g = gp_seq_.load(std::memory_order_seq_cst);
  c.qs.store(g, std::memory_order_release);
  return true;
}

bool Epoch::cpu_offline() {
  Cpu& c = cpus_[p_->cpu()];
  if (c.nesting.load(std::memory_order_relaxed) != 0 ||
      c.qs.load(std::memory_order_relaxed) == kOffline) {
    misuse_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Release: every read of this CPU is ordered before the reclaimer's
  // acquire load that sees kOffline.
  c.qs.store(kOffline, std::memory_order_release);
  return true;
}

bool Epoch::quiescent_state() {
  Cpu& c = cpus_[p_->cpu()];
  if (c.nesting.load(std::memory_order_relaxed) != 0 ||
      c.qs.load(std::memory_order_relaxed) == kOffline) {
    misuse_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Ordering step 2.
  const uint64_t g = gp_seq_.load(std::memory_order_acquire);
  c.qs.store(g, std::memory_order_release);
  return true;
}

uint64_t Epoch::completed() const {
  // Read gp_seq_ first: a CPU's qs_ never exceeds the gp_seq_ it loaded, and
  // capping keeps "every CPU offline" from meaning "GP 2^64 complete".
  const uint64_t cap = gp_seq_.load(std::memory_order_seq_cst);
  uint64_t m = cap;
  for (const Cpu& c : cpus_) {
    const uint64_t q = c.qs.load(std::memory_order_seq_cst);  // step 3 (and 4)
    if (q < m) m = q;
  }
  // acquire: whoever saw GP hw complete had synchronised with every CPU's
  // QS release; we inherit that through their release below.
  const uint64_t hw = done_hw_.load(std::memory_order_acquire);
  if (m > hw) {
    note_completed(m);
    return m;
  }
  return hw;
}

void Epoch::note_completed(uint64_t g) const {
  uint64_t cur = done_hw_.load(std::memory_order_relaxed);
  while (cur < g && !done_hw_.compare_exchange_weak(cur, g, std::memory_order_acq_rel,
                                                    std::memory_order_relaxed)) {
  }
}

uint64_t Epoch::start_gp_locked() {
  ++stats_.gp_started;
  return gp_seq_.fetch_add(1, std::memory_order_seq_cst) + 1;  // step 1
}

bool Epoch::call(EpochCallback* cb, void (*fn)(EpochCallback*)) {
  cb->fn = fn;
  cb->next = nullptr;
  size_t n;
  {
    LockGuard g(cb_lock_);
    cb->target = gp_seq_.load(std::memory_order_relaxed) + 1;
    need_gp_ = true;
    if (tail_) tail_->next = cb; else head_ = cb;
    tail_ = cb;
    n = pending_.load(std::memory_order_relaxed) + 1;
    pending_.store(n, std::memory_order_relaxed);
    if (n > stats_.max_pending) stats_.max_pending = n;
    if (n > max_pending_) ++stats_.backpressure;
  }
  return n <= max_pending_;
}

size_t Epoch::poll() {
  EpochCallback* ready = nullptr;
  {
    LockGuard g(cb_lock_);
    if (need_gp_) {
      start_gp_locked();
      need_gp_ = false;
    }
    if (!head_) return 0;
    const uint64_t done = completed();
    if (done > stats_.gp_completed) stats_.gp_completed = done;
    EpochCallback* last = nullptr;
    size_t n = 0;
    for (EpochCallback* c = head_; c && c->target <= done; c = c->next) {
      last = c;
      ++n;
    }
    if (!last) return 0;
    ready = head_;
    head_ = last->next;
    if (!head_) tail_ = nullptr;
    last->next = nullptr;
    pending_.store(pending_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    stats_.callbacks_run += n;
  }
  size_t ran = 0;
  while (ready) {
    EpochCallback* next = ready->next;  // fn may free the storage of ready
    ready->fn(ready);
    ready = next;
    ++ran;
  }
  return ran;
}

bool Epoch::synchronize() {
  if (in_read_section()) {
    misuse_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  uint64_t target;
  {
    LockGuard g(cb_lock_);
    target = start_gp_locked();
    need_gp_ = false;  // the GP just started also serves queued callbacks
  }
  // Our own QS: we are in no read section.
  Cpu& self = cpus_[p_->cpu()];
  if (self.qs.load(std::memory_order_relaxed) != kOffline) quiescent_state();
  bool kicked = false;
  uint64_t start = p_->wait_start();
  while (completed() < target) {
    if (!kicked) { p_->kick(); kicked = true; }
    p_->pause();
    if (self.qs.load(std::memory_order_relaxed) != kOffline) quiescent_state();
    if (p_->overdue(start)) {
      p_->unresponsive(p_->ctx, laggard(target), "did not pass a quiescent state for a grace period");
      start = p_->wait_start();
    }
  }
  return true;
}

unsigned Epoch::laggard(uint64_t target) const {
  for (unsigned c = 0; c < kMaxCpus; ++c) {
    const uint64_t q = cpus_[c].qs.load(std::memory_order_acquire);
    if (q != kOffline && q < target) return c;
  }
  return kMaxCpus;  // none any more
}

bool Epoch::barrier() {
  if (in_read_section()) {
    misuse_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Every callback queued so far has target <= gp_seq_ + 1; one synchronize
  // starts a GP numbered at least that and waits for it.
  if (!synchronize()) return false;
  poll();
  return true;
}

Epoch::Stats Epoch::stats() const {
  Stats s;
  {
    LockGuard g(const_cast<SpinLock&>(cb_lock_));
    s = stats_;
  }
  s.misuse = misuse_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace hv::mm
