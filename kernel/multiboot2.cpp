#include "kernel/multiboot2.h"

namespace hv::mb2 {
namespace {

// Layout constants from the Multiboot2 specification, section 3.6.
constexpr size_t kFixedHeaderSize = 8;      // u32 total_size, u32 reserved
constexpr size_t kTagHeaderSize = 8;        // u32 type, u32 size
constexpr size_t kEndTagSize = 8;
constexpr size_t kMinTotalSize = kFixedHeaderSize + kEndTagSize;
constexpr size_t kModuleHeaderSize = 16;    // tag header, u32 mod_start, u32 mod_end
constexpr size_t kMmapHeaderSize = 16;      // tag header, u32 entry_size, u32 entry_version
constexpr size_t kMmapMinEntrySize = 24;    // u64 base_addr, u64 length, u32 type, u32 reserved

// Multiboot2 only exists on little-endian machines; assembling values from
// bytes sidesteps misaligned loads (the buffer need not be aligned, and
// casting to a struct would be UB) and keeps us independent of memcpy, which
// a freestanding kernel may not have yet. Compilers fold this into one load.
template <typename T>
T load(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v = static_cast<T>(v | static_cast<T>(static_cast<T>(p[i]) << (8 * i)));
  }
  return v;
}

constexpr size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

// True if [begin, end) contains a NUL byte, i.e. a string starting at `begin`
// is terminated before the end of its tag.
bool has_nul(const uint8_t* begin, const uint8_t* end) {
  for (const uint8_t* p = begin; p < end; ++p) {
    if (*p == 0) return true;
  }
  return false;
}

constexpr ParseError fail(const char* what, size_t offset) { return {what, offset}; }

// Returns the string that starts `header` bytes into the tag at `tag`, or
// nullptr if it is not terminated inside the tag's `size` bytes.
const char* tag_string(const uint8_t* tag, size_t size, size_t header) {
  if (!has_nul(tag + header, tag + size)) return nullptr;
  return reinterpret_cast<const char*>(tag + header);
}

ParseError parse_mmap(const uint8_t* tag, size_t size, size_t offset, BootInfo& out) {
  if (size < kMmapHeaderSize) return fail(error::kMmapTooSmall, offset);
  const uint32_t entry_size = load<uint32_t>(tag + 8);
  // entry_size lets newer boot loaders append fields; we only need the
  // first 24 bytes, but it must keep the entries 8-byte aligned.
  if (entry_size < kMmapMinEntrySize) return fail(error::kMmapEntrySizeTooSmall, offset);
  if (entry_size % 8 != 0) return fail(error::kMmapEntrySizeUnaligned, offset);
  const size_t body = size - kMmapHeaderSize;
  if (body % entry_size != 0) return fail(error::kMmapPartialEntry, offset);

  const size_t entries = body / entry_size;
  if (entries > kMaxMemoryRegions - out.region_count) return fail(error::kTooManyRegions, offset);
  for (size_t i = 0; i < entries; ++i) {
    const uint8_t* e = tag + kMmapHeaderSize + i * entry_size;
    MemoryRegion& r = out.regions[out.region_count++];
    r.base = load<uint64_t>(e);
    r.length = load<uint64_t>(e + 8);
    r.type = static_cast<MemoryType>(load<uint32_t>(e + 16));
  }
  return {};
}

ParseError parse_module(const uint8_t* tag, size_t size, size_t offset, BootInfo& out) {
  if (size < kModuleHeaderSize) return fail(error::kModuleTooSmall, offset);
  const uint32_t start = load<uint32_t>(tag + 8);
  const uint32_t end = load<uint32_t>(tag + 12);
  if (start > end) return fail(error::kModuleStartAfterEnd, offset);
  const char* name = tag_string(tag, size, kModuleHeaderSize);
  if (name == nullptr) return fail(error::kModuleNameUnterminated, offset);
  if (out.module_count == kMaxModules) return fail(error::kTooManyModules, offset);
  out.modules[out.module_count++] = Module{start, end, name};
  return {};
}

// Tags 14 and 15 hold a byte copy of the RSDP right after the tag header.
ParseError parse_rsdp(const uint8_t* tag, size_t size, size_t offset, size_t need, const char* too_small,
                      const char* duplicate, AcpiRsdp& out) {
  if (out.data != nullptr) return fail(duplicate, offset);
  if (size - kTagHeaderSize < need) return fail(too_small, offset);
  out = AcpiRsdp{tag + kTagHeaderSize, size - kTagHeaderSize};
  return {};
}

}  // namespace

ParseError parse(uint32_t magic, const void* info, size_t max_size, BootInfo& out) {
  // Only the scalar fields are reset: the tables are valid up to their
  // counts, and clearing ~6 KiB would need memset in the kernel.
  out.cmdline = "";
  out.loader_name = "";
  out.region_count = 0;
  out.module_count = 0;
  out.acpi_old = AcpiRsdp{nullptr, 0};
  out.acpi_new = AcpiRsdp{nullptr, 0};
  out.total_size = 0;

  if (magic != kBootloaderMagic) return fail(error::kBadMagic, 0);
  if (info == nullptr) return fail(error::kNullInfo, 0);
  if (max_size < kFixedHeaderSize) return fail(error::kBufferTooSmall, 0);

  const auto* base = static_cast<const uint8_t*>(info);
  const size_t total = load<uint32_t>(base);
  if (total < kMinTotalSize) return fail(error::kTotalSizeTooSmall, 0);
  if (total > max_size) return fail(error::kTotalSizeTooLarge, 0);
  // Tags are 8-byte aligned and padded, so a well-formed total is too; this
  // also guarantees that any tag offset below `total` has a full tag header.
  if (total % kTagAlign != 0) return fail(error::kTotalSizeUnaligned, 0);
  out.total_size = total;

  bool seen_cmdline = false;
  bool seen_loader_name = false;
  bool seen_mmap = false;

  size_t offset = kFixedHeaderSize;
  while (offset < total) {
    const uint8_t* tag = base + offset;
    const uint32_t type = load<uint32_t>(tag);
    const size_t size = load<uint32_t>(tag + 4);
    if (size < kTagHeaderSize) return fail(error::kTagTooSmall, offset);
    // Written as a subtraction so that a huge size cannot wrap around.
    if (size > total - offset) return fail(error::kTagPastEnd, offset);

    ParseError err{};
    switch (static_cast<TagType>(type)) {
      case TagType::End:
        if (size != kEndTagSize) return fail(error::kBadEndTag, offset);
        // Anything after the end tag is padding we do not interpret.
        if (!seen_mmap) return fail(error::kNoMemoryMap, offset);
        return {};
      case TagType::CommandLine:
        // A second copy would make the kernel's view depend on which one
        // we happened to keep; refuse rather than guess.
        if (seen_cmdline) return fail(error::kDuplicateCmdline, offset);
        seen_cmdline = true;
        out.cmdline = tag_string(tag, size, kTagHeaderSize);
        if (out.cmdline == nullptr) return fail(error::kCmdlineUnterminated, offset);
        break;
      case TagType::BootLoaderName:
        if (seen_loader_name) return fail(error::kDuplicateLoaderName, offset);
        seen_loader_name = true;
        out.loader_name = tag_string(tag, size, kTagHeaderSize);
        if (out.loader_name == nullptr) return fail(error::kLoaderNameUnterminated, offset);
        break;
      case TagType::Module:
        err = parse_module(tag, size, offset, out);
        break;
      case TagType::MemoryMap:
        if (seen_mmap) return fail(error::kDuplicateMmap, offset);
        seen_mmap = true;
        err = parse_mmap(tag, size, offset, out);
        break;
      case TagType::AcpiOldRsdp:
        err = parse_rsdp(tag, size, offset, kAcpiRsdpV1Size, error::kAcpiOldTooSmall, error::kDuplicateAcpiOld,
                         out.acpi_old);
        break;
      case TagType::AcpiNewRsdp:
        err = parse_rsdp(tag, size, offset, kAcpiRsdpV2Size, error::kAcpiNewTooSmall, error::kDuplicateAcpiNew,
                         out.acpi_new);
        break;
      default:
        break;  // Tags we do not need (framebuffer, ELF sections, ...) are skipped.
    }
    if (!err.ok()) return err;

    // Cannot exceed `total`: size <= total - offset and total is aligned.
    offset += align_up(size, kTagAlign);
  }
  return fail(error::kMissingEndTag, total);
}

const Module* find_module(const BootInfo& info, const char* name) {
  for (size_t i = 0; i < info.module_count; ++i) {
    const char* a = info.modules[i].name;
    size_t k = 0;
    while (a[k] && a[k] == name[k]) ++k;
    if (!a[k] && !name[k]) return &info.modules[i];
  }
  return nullptr;
}

}  // namespace hv::mb2
