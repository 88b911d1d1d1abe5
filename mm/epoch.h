// Epochs: the hypervisor's own RCU (quiescent-state based).
//
// Read side: read_lock()/read_unlock() only count nesting in the caller's
// per-CPU record (a load and a store, no atomic RMW, no fence): the real
// protection is that a CPU reports a quiescent state (QS) only *between* read
// sections. The kernel reports them at VM exit, before VM entry and when idle;
// host threads report them between operations.
//
// Grace periods are numbered 1, 2, ... by gp_seq_ (the last one started).
// A CPU's record holds qs_, the newest gp_seq_ value it had observed when it
// last passed a QS (or kOffline while it is in an extended QS: idle, parked).
// Grace period g is complete when every CPU's qs_ >= g.
//
// Memory-ordering argument (all orderings are on the variables themselves, so
// ThreadSanitizer sees them; there are no standalone fences):
//  1. An updater unlinks an object, then (program order, or through the
//     callback lock) a grace period g is started by gp_seq_.fetch_add
//     (seq_cst, hence release).
//  2. A CPU passing a QS loads gp_seq_ (acquire) and stores that value into
//     its qs_ (release). Everything it read before the QS is ordered before
//     the store; if it loaded >= g, everything it reads after the QS happens
//     after the unlink (acquire on gp_seq_ synchronises with the RMW of step
//     1), so it cannot find the unlinked object again.
//  3. The reclaimer loads every qs_ (acquire); seeing >= g it synchronises
//     with each CPU's release, so every read those CPUs made under the old
//     state happens before the free.
//  4. A CPU coming online (leaving idle) must not be skipped by a grace period
//     that started before it could see the unlink. It first stores qs_ = 0
//     ("online, no QS yet", seq_cst) and then loads gp_seq_ (seq_cst). The
//     reclaimer's RMW of gp_seq_ and its load of qs_ are seq_cst too. In the
//     single total order either the reclaimer's qs_ load comes after the
//     store of 0 (so it waits for this CPU) or before it, in which case the
//     RMW precedes the CPU's gp_seq_ load, which therefore returns >= g and
//     step 2 applies. This is the one Dekker pattern here; it needs seq_cst.
//
// Deferred callbacks (call()) are queued FIFO under a spinlock with target =
// gp_seq_ + 1 and a "GP needed" flag; the next poll() starts that grace period
// under the same lock, so the unlink happens before the increment (step 1).
// Targets are non-decreasing along the queue, so completed callbacks are a
// prefix. Callbacks run from poll(), outside every lock.
//
// Bound and back-pressure: call() never drops (the object is already
// unlinked) but returns false once more than max_pending callbacks wait; the
// caller must then, at a point where it holds no lock and is in no read
// section, call barrier() (or at least poll()) before queueing more. The
// counters below let tests and benchmarks see how far the bound was exceeded.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

#include "mm/platform.h"
#include "mm/sync.h"

namespace hv::mm {

class Epoch {
 public:
  static constexpr uint64_t kOffline = ~uint64_t{0};

  struct Stats {
    uint64_t gp_started = 0;
    uint64_t gp_completed = 0;  // highest grace period seen complete
    uint64_t callbacks_run = 0;
    uint64_t backpressure = 0;  // call() returned false
    uint64_t max_pending = 0;
    uint64_t misuse = 0;        // refused calls (QS inside a read section, ...)
  };

  // All CPUs start offline; each CPU that reads calls cpu_online() first.
  void init(const Platform* p, size_t max_pending);

  // Extended quiescent state (idle, parked, thread exit). Refused (false)
  // inside a read section.
  bool cpu_online();
  bool cpu_offline();

  void read_lock() {
    Cpu& c = cpus_[p_->cpu()];
    c.nesting.store(c.nesting.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void read_unlock() {
    Cpu& c = cpus_[p_->cpu()];
    c.nesting.store(c.nesting.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  // The calling CPU takes part in grace periods (cpu_online() and not offline since).
  bool online() const { return cpus_[p_->cpu()].qs.load(std::memory_order_relaxed) != kOffline; }
  bool in_read_section() const {
    return cpus_[p_->cpu()].nesting.load(std::memory_order_relaxed) != 0;
  }

  // Report a QS for the calling CPU (see ordering step 2). Refused (false)
  // inside a read section or on an offline CPU.
  bool quiescent_state();

  // Runs cb->fn(cb) after a grace period. Always queues; returns false when
  // more than max_pending callbacks are waiting (back-pressure, see above).
  bool call(EpochCallback* cb, void (*fn)(EpochCallback*));

  // Starts a grace period if callbacks need one and runs the callbacks whose
  // grace period has completed. Returns how many ran. Safe anywhere outside a
  // lock that a callback takes.
  size_t poll();

  // Waits for a full grace period (reporting the caller's own QS). Refused
  // (false) inside a read section: it would wait for itself forever. A CPU
  // that holds the grace period past the platform's wait deadline is named
  // through Platform::unresponsive (the kernel ends the run there).
  bool synchronize();

  // Waits until every callback queued before the call has run.
  bool barrier();

  size_t pending() const { return pending_.load(std::memory_order_relaxed); }
  uint64_t gp_seq() const { return gp_seq_.load(std::memory_order_acquire); }
  bool gp_completed(uint64_t g) const { return completed() >= g; }
  Stats stats() const;

 private:
  struct alignas(64) Cpu {
    std::atomic<uint64_t> qs{kOffline};
    std::atomic<uint32_t> nesting{0};
  };

  // min over CPUs of qs_, capped at gp_seq_, and never below a grace period
  // already seen complete: a CPU coming online stores qs_ = 0 for a moment
  // (ordering step 4), which must not make a completed GP look incomplete.
  uint64_t completed() const;
  void note_completed(uint64_t g) const;
  uint64_t start_gp_locked();
  // The first online CPU that has not passed a quiescent state for target.
  unsigned laggard(uint64_t target) const;

  const Platform* p_ = nullptr;
  size_t max_pending_ = 0;
  std::atomic<uint64_t> gp_seq_{0};
  mutable std::atomic<uint64_t> done_hw_{0};  // highest GP seen complete
  Cpu cpus_[kMaxCpus];

  SpinLock cb_lock_;  // protects the queue, need_gp_ and the counters below
  EpochCallback* head_ = nullptr;
  EpochCallback* tail_ = nullptr;
  bool need_gp_ = false;
  std::atomic<size_t> pending_{0};
  Stats stats_;
  std::atomic<uint64_t> misuse_{0};
};

// RAII read section.
class EpochReadGuard {
 public:
  explicit EpochReadGuard(Epoch& e) : e_(e) { e_.read_lock(); }
  ~EpochReadGuard() { e_.read_unlock(); }
  EpochReadGuard(const EpochReadGuard&) = delete;
  EpochReadGuard& operator=(const EpochReadGuard&) = delete;

 private:
  Epoch& e_;
};

}  // namespace hv::mm
