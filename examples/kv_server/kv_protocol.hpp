// The key-value service's wire protocol: RESP2, the Redis protocol, so that redis-cli and
// redis-benchmark work against the server (docs/execution.md, "Protocol").
//
// Requests are arrays of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\na\r\n") or inline commands (a
// line of words separated by spaces, as typed into telnet; no quoting). Keys and values are
// binary-safe. Commands (names are case-insensitive):
//
//   PING [msg]  ECHO msg  GET key  SET key value  DEL key...  EXISTS key...  DBSIZE  MGET key...
//   MSET key value...  FLUSHDB [ASYNC|SYNC]  QUIT  SELECT 0  INFO [section]
//   CONFIG GET param  COMMAND ...  CLIENT SETNAME|SETINFO ...   (the probes real clients send)
//
// A command error (unknown command, wrong arity, SET options, a key over max_key) gets a RESP
// error and the connection stays usable; a framing error (bad lengths, a frame over
// max_request, an inline line over max_inline) gets "-ERR Protocol error: ..." and the
// connection is closed, as Redis does.
#pragma once

#include <cotrait/static_task.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

inline constexpr std::size_t max_key = 1024;         ///< bytes in a key
inline constexpr std::size_t max_value = 512 * 1024; ///< bytes in a value (any bulk string)
inline constexpr std::size_t max_args = 4097;        ///< bulk strings in one request
inline constexpr std::size_t max_request = 2 << 20;  ///< bytes of one request frame
inline constexpr std::size_t max_inline = 64 * 1024; ///< bytes of one inline command line

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
    return k.size() <= max_key;
}
inline bool valid_value(std::string_view v) noexcept {
    return v.size() <= max_value;
}

// ---- Framing --------------------------------------------------------------------------------

/// What parse_request found at the start of a buffer.
struct parse_result {
    enum status_t { complete, incomplete, error } status = incomplete;
    std::size_t consumed = 0; ///< complete: bytes of the request
    std::size_t need = 0;     ///< incomplete: no point parsing again before this many bytes
    std::string_view why;     ///< error: what is wrong (a static string)
};

namespace detail {
// A signed decimal, as RESP lengths are written; nullopt if it is not one or overflows.
inline std::optional<long long> parse_length(std::string_view s) noexcept {
    bool neg = false;
    if (!s.empty() && s[0] == '-') {
        neg = true;
        s.remove_prefix(1);
    }
    if (s.empty() || s.size() > 18) {
        return std::nullopt;
    }
    long long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + (c - '0');
    }
    return neg ? -v : v;
}
} // namespace detail

/// Parses one request at the start of `buf`. On `complete`, `args` holds views into `buf` (none
/// for an empty inline line or an empty array, which are ignored).
inline parse_result parse_request(std::string_view buf, std::vector<std::string_view>& args) {
    args.clear();
    parse_result r;
    if (buf.empty()) {
        r.need = 1;
        return r;
    }
    auto fail = [&](std::string_view why) {
        r.status = parse_result::error;
        r.why = why;
        return r;
    };
    // A "<prefix><number>\r\n" header at `pos`; its number and the position after it.
    auto header = [&](std::size_t pos, long long& n, std::size_t& after) -> int {
        const std::size_t limit = std::min(buf.size(), pos + 24);
        const std::size_t cr = buf.substr(0, limit).find('\r', pos);
        if (cr == std::string_view::npos || cr + 1 >= buf.size()) {
            return limit - pos >= 24 ? -1 : 0; // too long to be a number, or not all here yet
        }
        if (buf[cr + 1] != '\n') {
            return -1;
        }
        const std::optional<long long> v = detail::parse_length(buf.substr(pos + 1, cr - pos - 1));
        if (!v) {
            return -1;
        }
        n = *v;
        after = cr + 2;
        return 1;
    };
    if (buf[0] == '*') {
        long long n = 0;
        std::size_t pos = 0;
        const int h = header(0, n, pos);
        if (h < 0 || n > static_cast<long long>(max_args)) {
            return fail("invalid multibulk length");
        }
        if (h == 0) {
            r.need = buf.size() + 1;
            return r;
        }
        for (long long i = 0; i < n; ++i) {
            if (pos >= buf.size()) {
                r.need = pos + 1;
                return r;
            }
            if (buf[pos] != '$') {
                return fail("expected '$'");
            }
            long long len = 0;
            std::size_t data = 0;
            const int b = header(pos, len, data);
            if (b < 0 || len < 0 || len > static_cast<long long>(max_value)) {
                return fail("invalid bulk length");
            }
            if (b == 0) {
                r.need = buf.size() + 1;
                return r;
            }
            const std::size_t end = data + static_cast<std::size_t>(len);
            if (end + 2 > max_request) {
                return fail("request too large");
            }
            if (buf.size() < end + 2) {
                r.need = end + 2;
                return r;
            }
            if (buf[end] != '\r' || buf[end + 1] != '\n') {
                return fail("bulk string not followed by CRLF");
            }
            args.push_back(buf.substr(data, static_cast<std::size_t>(len)));
            pos = end + 2;
        }
        r.status = parse_result::complete;
        r.consumed = pos;
        return r;
    }
    const std::size_t nl = buf.find('\n');
    if (nl == std::string_view::npos) {
        if (buf.size() > max_inline) {
            return fail("too big inline request");
        }
        r.need = buf.size() + 1;
        return r;
    }
    if (nl > max_inline) {
        return fail("too big inline request");
    }
    std::string_view line = buf.substr(0, nl);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
            ++i;
        }
        if (i > start) {
            if (args.size() == max_args) {
                return fail("too many arguments");
            }
            args.push_back(line.substr(start, i - start));
        }
    }
    r.status = parse_result::complete;
    r.consumed = nl + 1;
    return r;
}

// ---- Replies --------------------------------------------------------------------------------

inline void reply_simple(std::string& out, std::string_view s) {
    out += '+';
    out += s;
    out += "\r\n";
}
inline void reply_error(std::string& out, std::string_view s) {
    out += '-';
    out += s;
    out += "\r\n";
}
inline void reply_integer(std::string& out, long long n) {
    out += ':';
    out += std::to_string(n);
    out += "\r\n";
}
inline void reply_bulk(std::string& out, std::string_view s) {
    out += '$';
    out += std::to_string(s.size());
    out += "\r\n";
    out += s;
    out += "\r\n";
}
inline void reply_null(std::string& out) {
    out += "$-1\r\n";
}
inline void reply_array(std::string& out, std::size_t n) {
    out += '*';
    out += std::to_string(n);
    out += "\r\n";
}

/// A request as an array of bulk strings (what clients send).
inline std::string encode_request(std::span<const std::string_view> args) {
    std::string out;
    reply_array(out, args.size());
    for (std::string_view a : args) {
        reply_bulk(out, a);
    }
    return out;
}
inline std::string encode_request(std::initializer_list<std::string_view> args) {
    return encode_request(std::span<const std::string_view>(args.begin(), args.size()));
}

// ---- Commands -------------------------------------------------------------------------------

namespace detail {
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto up = [](char c) {
                   return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
               };
               return up(x) == up(y);
           });
}
inline std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c + 32);
        }
    }
    return r;
}
inline void wrong_arity(std::string& out, std::string_view cmd) {
    reply_error(out, "ERR wrong number of arguments for '" + lower(cmd) + "' command");
}
inline bool check_keys(std::string& out, std::span<const std::string_view> keys) {
    for (std::string_view k : keys) {
        if (!valid_key(k)) {
            reply_error(out, "ERR key too long (at most " + std::to_string(max_key) + " bytes)");
            return false;
        }
    }
    return true;
}
} // namespace detail

/// What the connection does after a request.
enum class after_request { keep_open, close };

/// Handles one request (`args`: the command and its arguments, at least one) against `store` and
/// appends the reply to `out`. `Store` is either the virtual interface (`kv::storage&`: every
/// call returns a boxed_task through a virtual function) or an implementation called directly
/// (its static_task methods: the static path). The same code serves both, which is what the
/// benchmark compares.
template <class Store>
cotrait::static_task<after_request>
handle_request(Store& store, std::span<const std::string_view> args, std::string& out) {
    using detail::iequals;
    const std::string_view cmd = args[0];
    const std::size_t n = args.size();
    if (iequals(cmd, "GET")) {
        if (n != 2) {
            detail::wrong_arity(out, cmd);
        } else if (detail::check_keys(out, args.subspan(1))) {
            const std::optional<std::string> v = co_await store.get(args[1]);
            if (v) {
                reply_bulk(out, *v);
            } else {
                reply_null(out);
            }
        }
    } else if (iequals(cmd, "SET")) {
        if (n < 3) {
            detail::wrong_arity(out, cmd);
        } else if (n > 3) {
            reply_error(out, "ERR syntax error (SET options are not supported)");
        } else if (detail::check_keys(out, args.subspan(1, 1))) {
            co_await store.set(args[1], args[2]);
            reply_simple(out, "OK");
        }
    } else if (iequals(cmd, "DEL")) {
        if (n < 2) {
            detail::wrong_arity(out, cmd);
        } else if (detail::check_keys(out, args.subspan(1))) {
            long long deleted = 0;
            for (std::size_t i = 1; i < n; ++i) {
                const bool erased = co_await store.erase(args[i]);
                deleted += erased ? 1 : 0;
            }
            reply_integer(out, deleted);
        }
    } else if (iequals(cmd, "EXISTS")) {
        if (n < 2) {
            detail::wrong_arity(out, cmd);
        } else if (detail::check_keys(out, args.subspan(1))) {
            long long found = 0;
            for (std::size_t i = 1; i < n; ++i) {
                const std::optional<std::string> v = co_await store.get(args[i]);
                found += v ? 1 : 0;
            }
            reply_integer(out, found);
        }
    } else if (iequals(cmd, "MGET")) {
        if (n < 2) {
            detail::wrong_arity(out, cmd);
        } else if (detail::check_keys(out, args.subspan(1))) {
            reply_array(out, n - 1);
            for (std::size_t i = 1; i < n; ++i) {
                const std::optional<std::string> v = co_await store.get(args[i]);
                if (v) {
                    reply_bulk(out, *v);
                } else {
                    reply_null(out);
                }
            }
        }
    } else if (iequals(cmd, "MSET")) {
        bool keys_ok = n >= 3 && n % 2 == 1;
        for (std::size_t i = 1; keys_ok && i < n; i += 2) {
            keys_ok = detail::check_keys(out, args.subspan(i, 1));
        }
        if (n < 3 || n % 2 == 0) {
            detail::wrong_arity(out, cmd);
        } else if (keys_ok) {
            for (std::size_t i = 1; i < n; i += 2) {
                co_await store.set(args[i], args[i + 1]);
            }
            reply_simple(out, "OK");
        }
    } else if (iequals(cmd, "DBSIZE")) {
        if (n == 1) {
            const std::size_t size = co_await store.size();
            reply_integer(out, static_cast<long long>(size));
        } else {
            detail::wrong_arity(out, cmd);
        }
    } else if (iequals(cmd, "FLUSHDB")) {
        if (n > 2 || (n == 2 && !iequals(args[1], "ASYNC") && !iequals(args[1], "SYNC"))) {
            reply_error(out, "ERR syntax error");
        } else {
            co_await store.clear();
            reply_simple(out, "OK");
        }
    } else if (iequals(cmd, "PING")) {
        if (n == 1) {
            reply_simple(out, "PONG");
        } else if (n == 2) {
            reply_bulk(out, args[1]);
        } else {
            detail::wrong_arity(out, cmd);
        }
    } else if (iequals(cmd, "ECHO")) {
        if (n == 2) {
            reply_bulk(out, args[1]);
        } else {
            detail::wrong_arity(out, cmd);
        }
    } else if (iequals(cmd, "QUIT")) {
        reply_simple(out, "OK");
        co_return after_request::close;
    } else if (iequals(cmd, "SELECT")) {
        if (n != 2) {
            detail::wrong_arity(out, cmd);
        } else if (args[1] == "0") {
            reply_simple(out, "OK");
        } else {
            reply_error(out, "ERR DB index is out of range");
        }
    } else if (iequals(cmd, "CONFIG")) {
        // redis-benchmark reads "save" and "appendonly" at start; nothing is configurable here.
        if (n == 3 && iequals(args[1], "GET")) {
            if (iequals(args[2], "save") || iequals(args[2], "appendonly")) {
                reply_array(out, 2);
                reply_bulk(out, detail::lower(args[2]));
                reply_bulk(out, iequals(args[2], "save") ? "" : "no");
            } else {
                reply_array(out, 0);
            }
        } else {
            reply_error(out, "ERR only CONFIG GET is supported");
        }
    } else if (iequals(cmd, "COMMAND")) {
        reply_array(out, 0); // redis-cli asks for command docs (hints): there are none
    } else if (iequals(cmd, "CLIENT")) {
        if (n >= 2 && (iequals(args[1], "SETNAME") || iequals(args[1], "SETINFO"))) {
            reply_simple(out, "OK");
        } else {
            reply_error(out, "ERR only CLIENT SETNAME and CLIENT SETINFO are supported");
        }
    } else if (iequals(cmd, "INFO")) {
        reply_bulk(out, "# Server\r\nredis_version:7.0.0\r\nserver_name:cotrait-kv\r\n");
    } else {
        std::string msg = "ERR unknown command '";
        msg.append(cmd.substr(0, 64));
        msg += "'";
        for (char& c : msg) {
            if (c == '\r' || c == '\n') {
                c = ' '; // an error reply is one line
            }
        }
        reply_error(out, msg);
    }
    co_return after_request::keep_open;
}

} // namespace kv
