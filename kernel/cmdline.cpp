#include "kernel/cmdline.h"

#include "kernel/format.h"

namespace hv::cmdline {
namespace {

struct Str {
    const char* p;
    size_t n;
    bool is(const char* s) const {
        size_t k = 0;
        while (k < n && s[k] && s[k] == p[k]) ++k;
        return k == n && !s[k];
    }
};

// Splits s at the first c: head before it, tail after it (tail.p == nullptr if absent).
void split(Str s, char c, Str& head, Str& tail) {
    for (size_t i = 0; i < s.n; ++i)
        if (s.p[i] == c) {
            head = {s.p, i};
            tail = {s.p + i + 1, s.n - i - 1};
            return;
        }
    head = s;
    tail = {nullptr, 0};
}

// split() that skips a c between double quotes (a guest's cmdline="...").
void split_unquoted(Str s, char c, Str& head, Str& tail) {
    bool quoted = false;
    for (size_t i = 0; i < s.n; ++i) {
        if (s.p[i] == '"') quoted = !quoted;
        if (s.p[i] == c && !quoted) {
            head = {s.p, i};
            tail = {s.p + i + 1, s.n - i - 1};
            return;
        }
    }
    head = s;
    tail = {nullptr, 0};
}

bool parse_u64(Str s, uint64_t& out) {
    if (s.n == 0 || s.n > 19) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; ++i) {
        if (s.p[i] < '0' || s.p[i] > '9') return false;
        v = v * 10 + uint64_t(s.p[i] - '0');
    }
    out = v;
    return true;
}

bool valid_name(Str s) {
    if (s.n == 0 || s.n >= HV_GUEST_NAME_MAX) return false;
    for (size_t i = 0; i < s.n; ++i) {
        char c = s.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

void copy(char* dst, Str s) {
    for (size_t i = 0; i < s.n; ++i) dst[i] = s.p[i];
    dst[s.n] = '\0';
}

class Parser {
public:
    Parser(Config* out, char* err, size_t err_size) : out_(out), err_(err), err_size_(err_size) {}

    bool fail(const char* what, Str s) {
        format(err_, err_size_, "%s: '%.*s'", what, int(s.n), s.p);
        return false;
    }

    bool word(Str w) {
        Str key, value;
        split(w, '=', key, value);
        if (!value.p) return fail("command-line word without '='", w);
        if (key.is("loglevel")) return log_level(value);
        if (key.is("guest")) return guest(value);
        if (key.is("eager_split")) return choice(value, "eager_split must be 1 or 0", "1", "0", out_->mmu_switches.eager_split);
        if (key.is("rmap_walk"))
            return choice(value, "rmap_walk must be lockless or locked", "lockless", "locked",
                          out_->mmu_switches.rmap_lockless);
        if (key.is("mmio_zap")) return choice(value, "mmio_zap must be gen or walk", "gen", "walk", out_->mmu_switches.mmio_gen);
        if (key.is("dirty_log")) return choice(value, "dirty_log must be wp or pml", "pml", "wp", out_->mmu_switches.pml);
        if (key.is("test_dirty_before_spte"))
            return choice(value, "test_dirty_before_spte must be 1 or 0", "1", "0",
                          out_->mmu_switches.test_dirty_before_spte);
        if (key.is("selftest")) {
            if (value.is("null_deref")) {
                out_->self_test = SelfTest::NullDeref;
            } else if (value.is("smp")) {
                out_->self_test = SelfTest::Smp;
            } else if (value.is("hung_cpu")) {
                out_->self_test = SelfTest::HungCpu;
            } else {
                return fail("selftest must be null_deref, smp or hung_cpu", value);
            }
            return true;
        }
        return fail("unknown command-line option", w);
    }

    bool choice(Str v, const char* what, const char* yes, const char* no, bool& out) {
        if (v.is(yes)) return out = true, true;
        if (v.is(no)) return out = false, true;
        return fail(what, v);
    }

    bool log_level(Str v) {
        static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
        for (unsigned i = 0; i < 4; ++i)
            if (v.is(kNames[i])) {
                out_->log_level = LogLevel(i);
                return true;
            }
        return fail("loglevel must be error, warn, info or debug", v);
    }

    bool guest(Str v) {
        if (out_->guest_count == kMaxGuests) return fail("too many guest= words (the limit is kMaxGuests)", v);
        if (!parse_guest_spec(v, out_->guests[out_->guest_count])) return false;
        ++out_->guest_count;
        return true;
    }

    // NAME[:KEY=VALUE,...], the guest= word's value (also HV_HC_CREATE_GUEST's).
    bool parse_guest_spec(Str v, GuestSpec& g) {
        g = GuestSpec{};
        g.mem_mib = 0;  // the default, once the image is known (guests::launch)
        g.expect = Outcome::Exited;
        g.vcpus = 1, g.cpu_span = 1;
        bool has_cpu = false, has_cpus = false;
        Str name, rest;
        split(v, ':', name, rest);
        if (!valid_name(name)) return fail("guest name must be 1-31 of [A-Za-z0-9_.-]", name);
        copy(g.name, name);
        copy(g.image, name);
        size_t args_len = 0;
        while (rest.p && rest.n) {
            Str kv, more;
            split_unquoted(rest, ',', kv, more);
            Str key, value;
            split(kv, '=', key, value);
            if (!value.p || key.n == 0) return fail("guest argument must be KEY=VALUE", kv);
            if (key.is("mem")) {
                if (!parse_u64(value, g.mem_mib) || g.mem_mib < 2 || g.mem_mib > kMaxGuestMemMib || g.mem_mib % 2)
                    return fail("guest mem= must be an even number of MiB in 2..1024", kv);
            } else if (key.is("cmdline")) {
                Str text = value;
                if (text.n >= 2 && text.p[0] == '"' && text.p[text.n - 1] == '"') text = Str{text.p + 1, text.n - 2};
                for (size_t i = 0; i < text.n; ++i)
                    if (text.p[i] == '"') return fail("guest cmdline: a double quote inside the value", kv);
                if (text.n >= sizeof g.cmdline) return fail("guest cmdline longer than 511 bytes", kv);
                copy(g.cmdline, text);
                g.has_cmdline = true;
            } else if (key.is("initrd")) {
                g.has_initrd = true;
                if (value.is("none")) {
                    g.initrd[0] = '\0';
                } else {
                    if (!valid_name(value)) return fail("guest initrd must be none or 1-31 of [A-Za-z0-9_.-]", value);
                    copy(g.initrd, value);
                }
            } else if (key.is("role")) {
                if (!value.is("control")) return fail("guest role must be control", value);
                g.control = true;
            } else if (key.is("image")) {
                if (value.is("none")) {
                    g.image[0] = '\0';
                } else {
                    if (!valid_name(value)) return fail("guest image must be none or 1-31 of [A-Za-z0-9_.-]", value);
                    copy(g.image, value);
                }
            } else if (key.is("dirty_log")) {
                if (value.is("manual")) {
                    g.manual_protect = true;
                } else if (value.is("initially_set")) {
                    g.manual_protect = g.initially_set = true;
                } else {
                    return fail("guest dirty_log must be manual or initially_set", value);
                }
            } else if (key.is("mmio_gen_start")) {
                if (!parse_u64(value, g.mmio_gen_start)) return fail("guest mmio_gen_start must be a number", kv);
            } else if (key.is("cpu")) {
                uint64_t cpu;
                if (!parse_u64(value, cpu) || cpu >= kMaxCpus) return fail("guest cpu must be a CPU index", kv);
                g.cpu = unsigned(cpu);
                has_cpu = true;
            } else if (key.is("cpus")) {
                Str first, last;
                split(value, '-', first, last);
                uint64_t a, b;
                if (!parse_u64(first, a) || !parse_u64(last.p ? last : first, b) || a > b || b >= kMaxCpus)
                    return fail("guest cpus must be A-B (CPU indexes, A <= B) or A", kv);
                g.cpu = unsigned(a), g.cpu_span = unsigned(b - a + 1);
                has_cpus = true;
            } else if (key.is("vcpus")) {
                uint64_t n;
                if (!parse_u64(value, n) || n < 1 || n > HV_MAX_VCPUS) return fail("guest vcpus must be 1..HV_MAX_VCPUS (4)", kv);
                g.vcpus = unsigned(n);
            } else if (key.is("start")) {
                if (!value.is("paused")) return fail("guest start must be paused", value);
                g.start_paused = true;
            } else if (key.is("expect")) {
                if (!parse_outcome(value.p, value.n, g.expect)) return fail("unknown expected outcome", value);
                g.has_expect = true;
            } else {
                size_t need = args_len + (args_len ? 1 : 0) + kv.n;
                if (need >= sizeof g.args) return fail("guest arguments longer than HV_GUEST_ARGS_MAX", kv);
                if (args_len) g.args[args_len++] = ',';
                copy(g.args + args_len, kv);
                args_len += kv.n;
            }
            rest = more;
        }
        if (has_cpu && has_cpus) return fail("guest cpu= and cpus= together: say where its vCPUs run once", v);
        return true;
    }

private:
    Config* out_;  // null when only a guest description is parsed
    char* err_;
    size_t err_size_;
};

}  // namespace

bool parse_guest(const char* spec, size_t n, GuestSpec& out, char* err, size_t err_size) {
    Parser p(nullptr, err, err_size);
    return p.parse_guest_spec(Str{spec, n}, out);
}

bool parse(const char* line, Config& out, char* err, size_t err_size) {
    out.log_level = LogLevel::Info;
    out.mmu_switches = mm::MmuSwitches();
    out.self_test = SelfTest::None;
    out.guest_count = 0;
    out.default_scenario = false;
    Parser p(&out, err, err_size);
    const char* s = line;
    // Each word is copied out with GRUB's escaping undone: GRUB's multiboot2
    // writes \" \' and \\ for ", ' and \ in every argument, and puts an
    // argument with blanks in double quotes ("guest=linux:cmdline=\"a b\""
    // is the word guest=linux:cmdline="a b"). A loader that passes the line
    // as it is (QEMU's -append) gives guest=linux:cmdline="a b" directly: a
    // double-quoted part of a word keeps its blanks.
    char word[kGuestCmdlineMax + 256];
    while (*s) {
        while (*s == ' ' || *s == '\t') ++s;
        if (!*s) break;
        const bool grub_quoted = *s == '"';
        if (grub_quoted) ++s;
        bool quoted = false, closed = !grub_quoted;
        size_t n = 0;
        while (*s) {
            char c = *s;
            if (c == '\\' && (s[1] == '"' || s[1] == '\'' || s[1] == '\\')) {
                c = s[1];
                s += 2;
            } else if (grub_quoted && c == '"') {
                ++s;
                closed = true;
                break;
            } else if (!grub_quoted && !quoted && (c == ' ' || c == '\t')) {
                break;
            } else {
                if (c == '"') quoted = !quoted;
                ++s;
            }
            if (n + 1 == sizeof word) {
                format(err, err_size, "kernel command line: a word longer than %zu bytes", n);
                return false;
            }
            word[n++] = c;
        }
        if (!closed || quoted) {
            format(err, err_size, "kernel command line: a double quote is not closed");
            return false;
        }
        if (n && !p.word(Str{word, n})) return false;
    }
    if (out.guest_count) return true;
    // The default run: a local live migration (see the header).
    static constexpr const char* kDefault[] = {
        "src:image=dirtier,expect=stopped,cpu=0",
        "dst:image=none,start=paused,expect=stopped,cpu=0",
        "migrator:role=control,src=0,dst=1,cpu=1",
    };
    for (const char* g : kDefault) {
        size_t n = 0;
        while (g[n]) ++n;
        if (!p.guest(Str{g, n})) return false;
    }
    out.default_scenario = true;
    return true;
}

}  // namespace hv::cmdline
