// The key-value service's wire protocol: one request per line, one reply line per request.
//
//   GET <key>            -> VALUE <value> | NOT_FOUND
//   SET <key> <value>    -> OK              (the value is the rest of the line; may be empty)
//   DEL <key>            -> DELETED | NOT_FOUND
//   SIZE                 -> SIZE <n>
//   PING                 -> PONG
//   anything else        -> ERROR <reason>  (and the connection stays usable)
//
// Keys are 1..250 bytes of printable ASCII without spaces; values up to 4096 bytes without
// control characters; lines end with "\n" (a preceding "\r" is dropped) and are at most
// max_line bytes. A request that breaks these rules gets an ERROR reply and changes nothing.
#pragma once

#include <cotrait/static_task.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kv {

inline constexpr std::size_t max_key = 250;
inline constexpr std::size_t max_value = 4096;
inline constexpr std::size_t max_line = 8192;

/// Parses a decimal number in [lo, hi] (digits only: no sign, no spaces, no suffix). The command
/// lines use it so that "--port 70000" or "--port -1" is a usage error, not a wrapped value.
inline std::optional<unsigned long> parse_number(std::string_view s, unsigned long lo,
                                                 unsigned long hi) noexcept {
    if (s.empty() || s.size() > 18) {
        return std::nullopt;
    }
    unsigned long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + static_cast<unsigned long>(c - '0');
    }
    if (v < lo || v > hi) {
        return std::nullopt;
    }
    return v;
}

inline bool valid_key(std::string_view k) noexcept {
    if (k.empty() || k.size() > max_key) {
        return false;
    }
    for (char c : k) {
        if (c <= ' ' || c > '~') {
            return false;
        }
    }
    return true;
}

inline bool valid_value(std::string_view v) noexcept {
    if (v.size() > max_value) {
        return false;
    }
    for (char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            return false;
        }
    }
    return true;
}

/// Handles one request line (without its line break) against `store` and appends the reply line
/// (with "\n") to `out`. `Store` is either the virtual interface (`kv::storage&`: every call
/// returns a boxed_task through a virtual function) or an implementation called directly (its
/// static_task methods: the static path). The same code serves both, which is what the benchmark
/// compares.
template <class Store>
cotrait::static_task<void> handle_request(Store& store, std::string_view line, std::string& out) {
    const std::size_t sp = line.find(' ');
    const std::string_view cmd = line.substr(0, sp);
    const std::string_view rest =
        sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    if (cmd == "GET" || cmd == "DEL") {
        if (sp == std::string_view::npos || !valid_key(rest)) {
            out += "ERROR bad key\n";
            co_return;
        }
        if (cmd == "GET") {
            std::optional<std::string> v = co_await store.get(rest);
            if (v) {
                out += "VALUE ";
                out += *v;
                out += '\n';
            } else {
                out += "NOT_FOUND\n";
            }
        } else {
            out += co_await store.erase(rest) ? "DELETED\n" : "NOT_FOUND\n";
        }
    } else if (cmd == "SET") {
        const std::size_t ksp = rest.find(' ');
        if (sp == std::string_view::npos || ksp == std::string_view::npos) {
            out += "ERROR usage: SET <key> <value>\n";
            co_return;
        }
        const std::string_view key = rest.substr(0, ksp);
        const std::string_view value = rest.substr(ksp + 1);
        if (!valid_key(key)) {
            out += "ERROR bad key\n";
        } else if (!valid_value(value)) {
            out += "ERROR bad value\n";
        } else {
            co_await store.set(key, value);
            out += "OK\n";
        }
    } else if (line == "SIZE") {
        out += "SIZE " + std::to_string(co_await store.size()) + "\n";
    } else if (line == "PING") {
        out += "PONG\n";
    } else {
        out += "ERROR unknown command\n";
    }
}

} // namespace kv
