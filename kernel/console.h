// Kernel console: printf-style formatting onto the serial console, with log
// levels chosen on the command line (loglevel=error|warn|info|debug).
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/format.h"

namespace hv {

enum class LogLevel : uint8_t { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void console_init();
void set_log_level(LogLevel level);
LogLevel log_level();

// Unconditional output: result lines, banners, panics.
void print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* fmt, va_list ap);
void write_raw(const char* s, size_t n);

void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define HV_LOG_ERROR(...) ::hv::log(::hv::LogLevel::Error, __VA_ARGS__)
#define HV_LOG_WARN(...) ::hv::log(::hv::LogLevel::Warn, __VA_ARGS__)
#define HV_LOG_INFO(...) ::hv::log(::hv::LogLevel::Info, __VA_ARGS__)
#define HV_LOG_DEBUG(...) ::hv::log(::hv::LogLevel::Debug, __VA_ARGS__)

}  // namespace hv
