// A RESP client for the key-value service, and the bounded load and malformed-request checks that
// the example and its tests run against a server.
#pragma once

#include "kv_protocol.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/when_all.hpp>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <array>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kv {

/// The size of the complete RESP reply at the start of `buf`, or 0 if more bytes are needed.
/// Throws std::runtime_error if `buf` does not start with a RESP reply.
inline std::size_t reply_size(std::string_view buf, std::size_t pos = 0, int depth = 0) {
    if (pos >= buf.size()) {
        return 0;
    }
    const std::size_t cr = buf.find("\r\n", pos);
    if (cr == std::string_view::npos) {
        return 0;
    }
    const char type = buf[pos];
    if (type == '+' || type == '-' || type == ':') {
        return cr + 2 - pos;
    }
    const std::optional<long long> n = detail::parse_length(buf.substr(pos + 1, cr - pos - 1));
    if ((type != '$' && type != '*') || !n || depth > 8) {
        throw std::runtime_error("kv: malformed reply");
    }
    if (*n < 0) {
        return cr + 2 - pos; // null bulk or null array
    }
    if (type == '$') {
        const std::size_t end = cr + 2 + static_cast<std::size_t>(*n) + 2;
        return buf.size() < end ? 0 : end - pos;
    }
    std::size_t at = cr + 2;
    for (long long i = 0; i < *n; ++i) {
        const std::size_t m = reply_size(buf, at, depth + 1);
        if (m == 0) {
            return 0;
        }
        at += m;
    }
    return at - pos;
}

/// A raw reply as redis-cli prints it: `OK`, `(error) ERR ...`, `(integer) 3`, the bytes of a bulk
/// string, `(nil)`, numbered array elements.
inline std::string render_reply(std::string_view raw, const std::string& indent = "") {
    const std::size_t cr = raw.find("\r\n");
    const std::string_view head = raw.substr(1, cr - 1);
    switch (raw[0]) {
    case '+':
        return std::string(head);
    case '-':
        return "(error) " + std::string(head);
    case ':':
        return "(integer) " + std::string(head);
    case '$':
        return head == "-1" ? "(nil)" : std::string(raw.substr(cr + 2, raw.size() - cr - 4));
    default: {
        if (head == "0" || head == "-1") {
            return "(empty array)";
        }
        std::string s;
        std::size_t at = cr + 2;
        for (int i = 1; at < raw.size(); ++i) {
            const std::size_t m = reply_size(raw, at);
            if (i > 1) {
                s += "\n" + indent;
            }
            s += std::to_string(i) + ") " + render_reply(raw.substr(at, m), indent + "   ");
            at += m;
        }
        return s;
    }
    }
}

/// One connection to a server. Requests are answered in order.
class client {
public:
    explicit client(asio::io_context& ctx) : sock_(ctx) {}

    /// Connects to `ep`.
    cotrait::boxed_task<> connect(asio::ip::tcp::endpoint ep) {
        co_await sock_.async_connect(ep, cotrait::use_task);
        sock_.set_option(asio::ip::tcp::no_delay(true));
    }

    /// Sends a command (as an array of bulk strings) and returns its raw reply.
    cotrait::boxed_task<std::string> request(std::vector<std::string> args) {
        std::vector<std::string_view> views(args.begin(), args.end());
        co_await send_raw(encode_request(views));
        co_return co_await read_reply();
    }

    /// Sends raw bytes as they are (pipelined requests, malformed input).
    cotrait::boxed_task<> send_raw(std::string bytes) {
        co_await asio::async_write(sock_, asio::buffer(bytes), cotrait::use_task);
    }

    /// Reads the next raw reply. Throws asio::system_error (eof) if the server closed first.
    cotrait::boxed_task<std::string> read_reply() {
        for (;;) {
            if (const std::size_t n = reply_size(buf_); n != 0) {
                std::string reply = buf_.substr(0, n);
                buf_.erase(0, n);
                co_return reply;
            }
            std::array<char, 16384> chunk{};
            const std::size_t got =
                co_await sock_.async_read_some(asio::buffer(chunk), cotrait::use_task);
            buf_.append(chunk.data(), got);
        }
    }

    /// True if the server closes the connection before sending anything more.
    cotrait::boxed_task<bool> closed_by_server() {
        try {
            std::array<char, 64> chunk{};
            const std::size_t n =
                co_await sock_.async_read_some(asio::buffer(chunk), cotrait::use_task);
            buf_.append(chunk.data(), n);
            co_return false;
        } catch (const asio::system_error&) {
            co_return buf_.empty();
        }
    }

    /// Closes the connection.
    void close() {
        asio::error_code ignored;
        sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        sock_.close(ignored);
    }

private:
    asio::ip::tcp::socket sock_;
    std::string buf_;
};

/// Raw replies, for comparisons.
inline std::string ok_reply() {
    return "+OK\r\n";
}
inline std::string bulk_reply(std::string_view v) {
    std::string out;
    reply_bulk(out, v);
    return out;
}
inline std::string null_reply() {
    return "$-1\r\n";
}
inline std::string int_reply(long long n) {
    std::string out;
    reply_integer(out, n);
    return out;
}

/// Printable form of raw bytes (for mismatch reports).
inline std::string printable(std::string_view s) {
    std::string r;
    for (char c : s.substr(0, 80)) {
        if (c == '\r') {
            r += "\\r";
        } else if (c == '\n') {
            r += "\\n";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            r += "\\x" + std::to_string(static_cast<int>(c));
        } else {
            r += c;
        }
    }
    return s.size() > 80 ? r + "..." : r;
}

/// What a load run saw.
struct load_report {
    std::size_t requests = 0;   ///< requests sent (and replies received)
    std::size_t mismatches = 0; ///< replies that differed from the expected one
    std::string first_mismatch; ///< "request -> reply (expected ...)" for the first mismatch
    std::map<std::string, std::string> expected; ///< what the store must hold afterwards
};

namespace detail {

// Requests written together before their replies are read: pipelining keeps a loaded machine's
// scheduling latency from dominating the run, and exercises the server's batching.
inline constexpr std::size_t pipeline_depth = 20;

struct pending_request {
    std::vector<std::string> args;
    std::string expected_reply;
};

inline cotrait::boxed_task<> flush(client& c, std::vector<pending_request>& batch, load_report& r) {
    std::string out;
    for (const pending_request& p : batch) {
        std::vector<std::string_view> views(p.args.begin(), p.args.end());
        out += encode_request(views);
    }
    co_await c.send_raw(std::move(out));
    for (const pending_request& p : batch) {
        const std::string reply = co_await c.read_reply();
        ++r.requests;
        if (reply != p.expected_reply && r.mismatches++ == 0) {
            r.first_mismatch = p.args[0] + " " + printable(p.args[1]) + " -> " + printable(reply) +
                               " (expected " + printable(p.expected_reply) + ")";
        }
    }
    batch.clear();
}

// One connection's share of the load, on keys of its own so that every reply is predictable. A
// cycle of five requests: SET, GET, SET (overwrite), GET, then DEL of the key every other cycle
// and a GET of a missing key otherwise. Values carry CR, LF and NUL bytes: bulk strings are
// binary-safe.
inline cotrait::boxed_task<load_report>
connection_load(asio::io_context& ctx, asio::ip::tcp::endpoint ep, int id, std::size_t requests) {
    load_report r;
    client c(ctx);
    co_await c.connect(ep);
    std::vector<pending_request> batch;
    std::size_t queued = 0;
    auto add = [&](std::vector<std::string> args, std::string reply) {
        if (queued < requests) {
            batch.push_back({std::move(args), std::move(reply)});
            ++queued;
            return true;
        }
        return false;
    };
    // `add` counts what it queues; a while loop, since the condition changes through it.
    std::size_t i = 0;
    while (queued < requests) {
        const std::string key = "c" + std::to_string(id) + "_k" + std::to_string(i % 97);
        std::string v1 = "value " + std::to_string(i) + " of " + std::to_string(id) + "\r\n";
        v1 += '\0';
        const std::string v2 = v1 + " (updated)";
        if (add({"SET", key, v1}, ok_reply())) {
            r.expected[key] = v1;
        }
        add({"GET", key}, bulk_reply(v1));
        if (add({"SET", key, v2}, ok_reply())) {
            r.expected[key] = v2;
        }
        add({"GET", key}, bulk_reply(v2));
        if (i % 2 == 0) {
            if (add({"DEL", key}, int_reply(1))) {
                r.expected.erase(key);
            }
        } else {
            add({"GET", "c" + std::to_string(id) + "_absent"}, null_reply());
        }
        if (batch.size() >= pipeline_depth) {
            co_await flush(c, batch, r);
        }
        ++i;
    }
    co_await flush(c, batch, r);
    c.close();
    co_return r;
}

} // namespace detail

/// Runs `total` requests spread over `connections` concurrent connections (each on keys of its
/// own) and checks every reply. The result's `expected` is the data the server must now hold.
inline cotrait::boxed_task<load_report> run_load(asio::io_context& ctx, asio::ip::tcp::endpoint ep,
                                                 std::size_t total, int connections) {
    std::vector<cotrait::boxed_task<load_report>> parts;
    for (int id = 0; id < connections; ++id) {
        const std::size_t share =
            total / static_cast<std::size_t>(connections) +
            (static_cast<std::size_t>(id) < total % static_cast<std::size_t>(connections) ? 1 : 0);
        parts.push_back(detail::connection_load(ctx, ep, id, share));
    }
    std::vector<load_report> reports = co_await cotrait::when_all(std::move(parts));
    load_report all;
    for (load_report& r : reports) {
        all.requests += r.requests;
        if (r.mismatches != 0 && all.mismatches == 0) {
            all.first_mismatch = r.first_mismatch;
        }
        all.mismatches += r.mismatches;
        all.expected.merge(r.expected);
    }
    co_return all;
}

/// The number of requests check_malformed sends that the server must answer with an error.
inline constexpr std::size_t malformed_requests = 15;

/// Sends malformed requests: 11 command errors, each of which must get an error reply on a
/// connection that stays usable, and 4 framing errors, each of which must get a protocol error
/// and a closed connection. Then checks fragmentation, inline commands, and with GET that every
/// key in `expected` still has its value. Returns the number of failed checks (0 when all is
/// well); `log` gets a line per failure.
inline cotrait::boxed_task<std::size_t>
check_malformed(asio::io_context& ctx, asio::ip::tcp::endpoint ep,
                const std::map<std::string, std::string>& expected, std::string& log) {
    std::size_t failures = 0;
    auto want = [&](const std::string& what, const std::string& reply, std::string_view prefix) {
        if (reply.rfind(prefix, 0) != 0) {
            ++failures;
            log +=
                what + " got: " + printable(reply) + " (expected " + printable(prefix) + "...)\n";
        }
    };
    client c(ctx);
    co_await c.connect(ep);
    const std::vector<std::vector<std::string>> bad = {
        {"FOO", "bar"},
        {"GET"},
        {"GET", "a", "b"},
        {"SET", "onlykey"},
        {"SET", "k", "v", "EX", "10"},
        {"DEL"},
        {"MSET", "a"},
        {"GET", std::string(max_key + 1, 'k')},
        {"SELECT", "1"},
        {"CONFIG", "SET", "save", ""},
        {"PING", "a", "b"},
    };
    for (const auto& b : bad) {
        want("'" + printable(b[0]) + "' request", co_await c.request(b), "-ERR ");
    }
    // A request split at every byte is still one request.
    const std::vector<std::string_view> split_args = {"PING", "split"};
    const std::string ping = encode_request(split_args);
    for (char ch : ping) {
        co_await c.send_raw(std::string(1, ch));
    }
    want("PING split byte by byte", co_await c.read_reply(), bulk_reply("split"));
    // Inline commands, and an empty line, which gets no reply.
    co_await c.send_raw("\r\nPING\r\n");
    want("inline PING", co_await c.read_reply(), "+PONG\r\n");

    // Framing errors: a protocol error reply, then the server closes the connection.
    const std::vector<std::pair<std::string, std::string>> broken = {
        {"*abc\r\n", "bad multibulk length"},
        {"*1\r\nX3\r\nGET\r\n", "missing '$'"},
        {"*1\r\n$999999999\r\n", "oversized bulk"},
        {std::string(max_inline + 10, 'x'), "overlong inline line"},
    };
    for (const auto& [bytes, what] : broken) {
        client p(ctx);
        co_await p.connect(ep);
        co_await p.send_raw(bytes);
        want(what, co_await p.read_reply(), "-ERR Protocol error: ");
        if (!co_await p.closed_by_server()) {
            ++failures;
            log += what + ": connection not closed\n";
        }
        p.close();
    }
    // Nothing was lost or changed by the bad requests.
    // (Named argument vectors: GCC 12 miscompiles braced lists inside co_await expressions.)
    for (const auto& [k, v] : expected) {
        std::vector<std::string> get = {"GET", k};
        want("after malformed requests GET " + k, co_await c.request(std::move(get)),
             bulk_reply(v));
    }
    std::vector<std::string> dbsize = {"DBSIZE"};
    want("DBSIZE", co_await c.request(std::move(dbsize)),
         int_reply(static_cast<long long>(expected.size())));
    c.close();
    co_return failures;
}

} // namespace kv
