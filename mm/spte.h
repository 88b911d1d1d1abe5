// EPT shadow page-table entries (SPTEs): the one place that knows the layout.
//
// Hardware bits are named after the Intel SDM, Vol. 3C, 29.3.2 "EPT Translation
// Mechanism", Tables 29-2 to 29-7 (formats of EPT PML4E/PDPTE/PDE/PTE). The
// software bits live in bits the SDM says the processor ignores, where KVM puts
// them (arch/x86/kvm/mmu/spte.h), so that readers who know KVM know these:
//
//   bit  0 R          read access                         (SDM)
//   bit  1 W          write access                        (SDM)
//   bit  2 X          supervisor-mode execute access      (SDM)
//   bits 5:3 MT       EPT memory type, leaf only          (SDM)
//   bit  6 IPAT       ignore PAT memory type, leaf only   (SDM)
//   bit  7 PS         leaf at level 2 (2 MiB) / 3 (1 GiB) (SDM); 0 elsewhere
//   bit  8 A          accessed   (EPT A/D enabled)        (SDM)
//   bit  9 D          dirty, leaf only                    (SDM)
//   bit 11 PRESENT    software: "this SPTE is in use" (KVM's SPTE_MMU_PRESENT);
//                     an execute-only or protected SPTE is still present
//   bits 51:12        host frame number (bits above MAXPHYADDR reserved)
//   bit 57 HOST_W     software: the host backing may be written (slot not
//                     read-only); W may only ever be set when this is set
//   bit 58 MMU_W      software: the MMU allows W; cleared W with MMU_W set means
//                     "write-protected for dirty logging", which the fast page
//                     fault may undo with one cmpxchg without the MMU lock
//
// MMIO SPTEs (seed 004) are an EPT-misconfiguration pattern: W|X without R
// (SDM 29.3.3.1: "bit 0 clear and bit 1 set" is a misconfiguration), so every
// access exits with reason 49 (EPT misconfiguration) instead of a violation.
// They carry the memslot generation in ignored bits 3..10 and 52..62 (19 bits,
// as KVM) and the gfn in bits 12..51. MMIO SPTEs never have PRESENT set.
#pragma once

#include <stdint.h>

namespace hv::mm::ept {

// ---- hardware bits (SDM Tables 29-2..29-7) ----
inline constexpr uint64_t kRead = uint64_t{1} << 0;
inline constexpr uint64_t kWrite = uint64_t{1} << 1;
inline constexpr uint64_t kExecute = uint64_t{1} << 2;
inline constexpr uint64_t kRwxMask = kRead | kWrite | kExecute;
inline constexpr unsigned kMemTypeShift = 3;
inline constexpr uint64_t kMemTypeMask = uint64_t{7} << kMemTypeShift;
inline constexpr uint64_t kIgnorePat = uint64_t{1} << 6;
inline constexpr uint64_t kLargePage = uint64_t{1} << 7;
inline constexpr uint64_t kAccessed = uint64_t{1} << 8;
inline constexpr uint64_t kDirty = uint64_t{1} << 9;
inline constexpr uint64_t kSuppressVe = uint64_t{1} << 63;
inline constexpr unsigned kMaxPhysBits = 52;
inline constexpr uint64_t kAddrMask = ((uint64_t{1} << kMaxPhysBits) - 1) & ~uint64_t{0xfff};

// ---- software bits (ignored by the processor) ----
inline constexpr uint64_t kPresent = uint64_t{1} << 11;
inline constexpr uint64_t kHostWritable = uint64_t{1} << 57;
inline constexpr uint64_t kMmuWritable = uint64_t{1} << 58;

// ---- MMIO SPTE layout (seed 004) ----
inline constexpr uint64_t kMmioValue = kWrite | kExecute;  // W|X, no R: misconfig
inline constexpr unsigned kMmioGenLowShift = 3, kMmioGenLowBits = 8;    // bits 3..10
inline constexpr unsigned kMmioGenHighShift = 52, kMmioGenHighBits = 11;  // bits 52..62
inline constexpr unsigned kMmioGenBits = kMmioGenLowBits + kMmioGenHighBits;  // 19
inline constexpr uint64_t kMmioGenMask = (uint64_t{1} << kMmioGenBits) - 1;
inline constexpr unsigned kMmioGfnBits = 40;  // bits 12..51
inline constexpr uint64_t kMmioGfnMask = (uint64_t{1} << kMmioGfnBits) - 1;

// EPT memory types (SDM 29.3.7); 2, 3 and 7 are reserved and misconfigure.
enum class MemType : uint8_t { kUC = 0, kWC = 1, kWT = 4, kWP = 5, kWB = 6 };

// Guest access rights requested for a mapping.
inline constexpr unsigned kAccR = 1, kAccW = 2, kAccX = 4;

// Levels: 1 = PTE (4 KiB), 2 = PDE (2 MiB), 3 = PDPTE (1 GiB), 4 = PML4E.
inline constexpr int kMaxLevel = 4;
constexpr unsigned level_shift(int level) { return 12 + 9 * static_cast<unsigned>(level - 1); }
constexpr uint64_t pages_per_level(int level) { return uint64_t{1} << (9 * (level - 1)); }
constexpr unsigned index_at(uint64_t gfn, int level) {
  return static_cast<unsigned>((gfn >> (9 * (level - 1))) & 511);
}

// ---- predicates ----
constexpr bool is_mmio(uint64_t s) { return (s & kRwxMask) == kMmioValue; }
constexpr bool is_present(uint64_t s) { return (s & kPresent) != 0; }
constexpr bool is_leaf(uint64_t s, int level) { return level == 1 || (s & kLargePage) != 0; }
constexpr bool is_large(uint64_t s) { return (s & kLargePage) != 0; }
constexpr bool is_writable(uint64_t s) { return (s & kWrite) != 0; }
constexpr bool is_mmu_writable(uint64_t s) { return (s & kMmuWritable) != 0; }
constexpr bool is_host_writable(uint64_t s) { return (s & kHostWritable) != 0; }
constexpr uint64_t addr(uint64_t s) { return s & kAddrMask; }
constexpr uint64_t pfn(uint64_t s) { return addr(s) >> 12; }

// ---- constructors: the only ways mm/ makes an SPTE ----

// Leaf SPTE for host frame `pfn` at `level` (1..3). Returns 0 (non-present)
// for a request that cannot be encoded legally, never a misconfiguration:
// write without read (write-only, write+execute-only), a pfn not aligned to
// the level's page size or beyond MAXPHYADDR, a level outside 1..3, or a
// reserved memory type. W is granted only if asked for and host-writable;
// MMU_W records that W may be restored by the fast page fault.
constexpr uint64_t make_leaf(uint64_t pfn, int level, unsigned access, MemType mt,
                             bool ipat, bool host_writable, unsigned phys_bits = 46) {
  if (level < 1 || level > 3) return 0;
  if ((access & kAccW) && !(access & kAccR)) return 0;
  if ((access & (kAccR | kAccX)) == 0) return 0;  // nothing to map
  if (phys_bits > kMaxPhysBits || phys_bits < 32) return 0;
  if (pfn >= (uint64_t{1} << (phys_bits - 12))) return 0;
  if (pfn & (pages_per_level(level) - 1)) return 0;
  const uint8_t m = static_cast<uint8_t>(mt);
  if (m == 2 || m == 3 || m > 6) return 0;
  uint64_t s = kPresent | (pfn << 12) | (uint64_t{m} << kMemTypeShift);
  if (ipat) s |= kIgnorePat;
  if (level > 1) s |= kLargePage;
  if (access & kAccR) s |= kRead;
  if (access & kAccX) s |= kExecute;
  if (host_writable) s |= kHostWritable;
  if ((access & kAccW) && host_writable) s |= kWrite | kMmuWritable;
  return s;
}

// Non-leaf entry pointing at a table page: full RWX (the leaf decides),
// no memory type, IPAT or PS (reserved in non-leaf entries).
constexpr uint64_t make_nonleaf(uint64_t table_pa) {
  return kPresent | (table_pa & kAddrMask) | kRead | kWrite | kExecute;
}

// The child of a huge leaf at index `i` (seed 002): same memory type, IPAT,
// rights and software bits; the frame advanced by i * child page size; PS kept
// only if the child is itself huge (level 2). Dirty logging removes W by the
// caller (write_protected()), keeping MMU_W so the fast path can restore it.
constexpr uint64_t make_split_child(uint64_t huge, int huge_level, unsigned i) {
  const int child_level = huge_level - 1;
  uint64_t s = huge & ~(kAddrMask | kLargePage);
  s |= ((pfn(huge) + uint64_t{i} * pages_per_level(child_level)) << 12) & kAddrMask;
  if (child_level > 1) s |= kLargePage;
  return s;
}

constexpr uint64_t write_protected(uint64_t s) { return s & ~kWrite; }
// With PML a logged 4K page stays writable with D clear: its next write sets
// D and the processor appends the page to the page-modification log.
constexpr uint64_t dirty_cleared(uint64_t s) { return s & ~kDirty; }
// What the fast page fault installs: W back (and D for EPT A/D users).
constexpr uint64_t fast_fix_writable(uint64_t s) { return s | kWrite; }

constexpr uint64_t make_mmio(uint64_t gfn, uint64_t gen) {
  const uint64_t g = gen & kMmioGenMask;
  const uint64_t lo = g & ((uint64_t{1} << kMmioGenLowBits) - 1);
  const uint64_t hi = g >> kMmioGenLowBits;
  return kMmioValue | (lo << kMmioGenLowShift) | (hi << kMmioGenHighShift) |
         ((gfn & kMmioGfnMask) << 12);
}
constexpr uint64_t mmio_gen(uint64_t s) {
  const uint64_t lo = (s >> kMmioGenLowShift) & ((uint64_t{1} << kMmioGenLowBits) - 1);
  const uint64_t hi = (s >> kMmioGenHighShift) & ((uint64_t{1} << kMmioGenHighBits) - 1);
  return lo | (hi << kMmioGenLowBits);
}
constexpr uint64_t mmio_gfn(uint64_t s) { return (s >> 12) & kMmioGfnMask; }

// ---- the audit: what the processor would make of `s` at `level` ----
enum class Problem : uint8_t {
  kNone,
  kNotPresentToHw,      // RWX == 0: hardware sees "not present" (fine, no misconfig)
  kWriteWithoutRead,    // write-only or write+execute-only: misconfiguration
  kReservedMemType,     // leaf memory type 2, 3 or 7
  kReservedNonLeafBits, // bits 3..7 in a non-leaf entry (PS at level 4 included)
  kReservedAddrBits,    // frame bits above MAXPHYADDR
  kMisalignedLarge,     // 2 MiB / 1 GiB frame with low bits set (reserved)
  kLargeAtBadLevel,     // PS at level 1 (ignored by hw, but never ours) or 4
  kWriteWithoutMmuW,    // software invariant: W implies MMU_W implies HOST_W
};

constexpr Problem check(uint64_t s, int level, unsigned phys_bits = 46) {
  const uint64_t rwx = s & kRwxMask;
  if (rwx == 0) return Problem::kNotPresentToHw;
  if ((rwx & kWrite) && !(rwx & kRead)) return Problem::kWriteWithoutRead;
  if (level == 4 && (s & kLargePage)) return Problem::kLargeAtBadLevel;
  if (level == 1 && (s & kLargePage)) return Problem::kLargeAtBadLevel;
  const uint64_t too_high = kAddrMask & ~((uint64_t{1} << phys_bits) - 1);
  if (s & too_high) return Problem::kReservedAddrBits;
  if (is_leaf(s, level)) {
    const uint64_t mt = (s & kMemTypeMask) >> kMemTypeShift;
    if (mt == 2 || mt == 3 || mt == 7) return Problem::kReservedMemType;
    if (level > 1 && (pfn(s) & (pages_per_level(level) - 1))) return Problem::kMisalignedLarge;
  } else if (s & (kMemTypeMask | kIgnorePat | kLargePage)) {
    return Problem::kReservedNonLeafBits;
  }
  if ((s & kWrite) && is_present(s) && is_leaf(s, level) &&
      (!(s & kMmuWritable) || !(s & kHostWritable)))
    return Problem::kWriteWithoutMmuW;
  return Problem::kNone;
}

static_assert(check(make_leaf(0x1234, 1, kAccR | kAccW | kAccX, MemType::kWB, true, true), 1) ==
              Problem::kNone);
static_assert(make_leaf(0x1234, 1, kAccW, MemType::kWB, false, true) == 0);
static_assert(make_leaf(0x1234, 1, kAccW | kAccX, MemType::kWB, false, true) == 0);
static_assert(make_leaf(0x1234, 2, kAccR, MemType::kWB, false, true) == 0);  // misaligned 2M
static_assert(mmio_gen(make_mmio(0x1234, 0x7ffff)) == 0x7ffff);
static_assert(mmio_gfn(make_mmio(0xabcdef, 5)) == 0xabcdef);
static_assert(check(make_mmio(1, 1), 1) == Problem::kWriteWithoutRead);  // it *is* a misconfig
static_assert(!is_present(make_mmio(~uint64_t{0}, ~uint64_t{0})));

}  // namespace hv::mm::ept
