#include "kernel/symbols.h"

namespace hv::symbols {
namespace {

const char* table;
size_t table_size;

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

void init(const char* text, size_t size) {
    table = text;
    table_size = size;
}

// Each line is "<hex address> <type> <name>"; nm -n sorts by address, so the
// last text symbol at or below pc is the one that contains it. Lines that do
// not parse (undefined symbols have no address) are skipped.
bool lookup(uint64_t pc, Symbol& out) {
    bool found = false;
    size_t i = 0;
    while (i < table_size) {
        size_t line_end = i;
        while (line_end < table_size && table[line_end] != '\n') ++line_end;
        uint64_t addr = 0;
        size_t j = i;
        int digits = 0;
        for (int d; j < line_end && (d = hex_digit(table[j])) >= 0; ++j, ++digits) addr = addr << 4 | uint64_t(d);
        if (digits > 0 && j + 3 <= line_end && table[j] == ' ' && table[j + 2] == ' ') {
            char type = table[j + 1];
            if (type == 'T' || type == 't' || type == 'W' || type == 'w') {
                if (addr > pc) break;
                out = Symbol{table + j + 3, line_end - (j + 3), pc - addr};
                found = true;
            }
        }
        i = line_end + 1;
    }
    return found;
}

}  // namespace hv::symbols
