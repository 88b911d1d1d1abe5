#include "kernel/format.h"

#include <stdint.h>

namespace hv {
namespace {

// A bounded sink: formatting never writes past the caller's buffer but keeps
// counting, so callers can tell that output was cut.
struct Sink {
    char* buf;
    size_t size;
    size_t len;
    void put(char c) {
        if (len + 1 < size) buf[len] = c;
        ++len;
    }
};

void put_unsigned(Sink& s, uint64_t v, unsigned base, int width, char pad, bool upper) {
    char tmp[24];
    int n = 0;
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    for (int i = n; i < width; ++i) s.put(pad);
    while (n) s.put(tmp[--n]);
}

}  // namespace

size_t vformat(char* buf, size_t size, const char* fmt, va_list ap) {
    Sink s{buf, size, 0};
    for (const char* p = fmt; *p; ++p) {
        if (*p != '%') {
            s.put(*p);
            continue;
        }
        ++p;
        char pad = ' ';
        bool left = false;
        if (*p == '-') left = true, ++p;
        if (*p == '0') pad = '0', ++p;
        int width = 0;
        while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        int precision = -1;
        if (*p == '.') {
            ++p;
            precision = 0;
            if (*p == '*') precision = va_arg(ap, int), ++p;
            else
                while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
        }
        int longs = 0;
        while (*p == 'l') ++longs, ++p;
        if (*p == 'z') longs = 2, ++p;
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v);
            if (v < 0) s.put('-'), --width;
            put_unsigned(s, mag, 10, width, pad, false);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_unsigned(s, v, *p == 'u' ? 10 : 16, width, pad, *p == 'X');
            break;
        }
        case 'p':
            s.put('0'), s.put('x');
            put_unsigned(s, uint64_t(va_arg(ap, void*)), 16, 16, '0', false);
            break;
        case 'c':
            s.put(char(va_arg(ap, int)));
            break;
        case 's': {
            const char* str = va_arg(ap, const char*);
            if (!str) str = "(null)";
            int n = 0;
            while ((precision < 0 || n < precision) && str[n]) ++n;
            if (!left)
                for (int i = n; i < width; ++i) s.put(' ');
            for (int i = 0; i < n; ++i) s.put(str[i]);
            if (left)
                for (int i = n; i < width; ++i) s.put(' ');
            break;
        }
        case '%':
            s.put('%');
            break;
        default:
            s.put('%');
            if (*p) s.put(*p);
            else --p;
        }
    }
    if (size) buf[s.len < size ? s.len : size - 1] = '\0';
    return s.len;
}

size_t format(char* buf, size_t size, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

bool fail(char* why, size_t n, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat(why, n, fmt, ap);
    va_end(ap);
    return false;
}

}  // namespace hv
