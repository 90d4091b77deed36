// A client for the key-value service, and the bounded load and malformed-request checks that the
// example and its test run against a server.
#pragma once

#include "kv_protocol.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/when_all.hpp>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kv {

/// One connection to a server. Requests are answered in order.
class client {
public:
    explicit client(asio::io_context& ctx) : sock_(ctx) {}

    /// Connects to `ep`.
    cotrait::boxed_task<> connect(asio::ip::tcp::endpoint ep) {
        co_await sock_.async_connect(ep, cotrait::use_task);
        sock_.set_option(asio::ip::tcp::no_delay(true));
    }

    /// Sends `line` (a "\n" is appended) and returns the reply line without its "\n".
    cotrait::boxed_task<std::string> request(std::string_view line) {
        std::string out(line);
        out += '\n';
        co_await asio::async_write(sock_, asio::buffer(out), cotrait::use_task);
        co_return co_await read_reply();
    }

    /// Sends raw bytes as they are (for malformed input).
    cotrait::boxed_task<> send_raw(std::string bytes) {
        co_await asio::async_write(sock_, asio::buffer(bytes), cotrait::use_task);
    }

    /// Reads the next reply line.
    cotrait::boxed_task<std::string> read_reply() {
        const std::size_t n = co_await asio::async_read_until(sock_, asio::dynamic_buffer(buf_),
                                                              '\n', cotrait::use_task);
        std::string reply = buf_.substr(0, n - 1);
        buf_.erase(0, n);
        co_return reply;
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
    std::string request;
    std::string expected_reply;
};

inline cotrait::boxed_task<> flush(client& c, std::vector<pending_request>& batch, load_report& r) {
    std::string out;
    for (const pending_request& p : batch) {
        out += p.request;
        out += '\n';
    }
    co_await c.send_raw(std::move(out));
    for (const pending_request& p : batch) {
        const std::string reply = co_await c.read_reply();
        ++r.requests;
        if (reply != p.expected_reply && r.mismatches++ == 0) {
            r.first_mismatch = p.request + " -> " + reply + " (expected " + p.expected_reply + ")";
        }
    }
    batch.clear();
}

// One connection's share of the load, on keys of its own so that every reply is predictable. A
// cycle of five requests: SET, GET, SET (overwrite), GET, then DEL of the key every other cycle
// and a GET of a missing key otherwise.
inline cotrait::boxed_task<load_report>
connection_load(asio::io_context& ctx, asio::ip::tcp::endpoint ep, int id, std::size_t requests) {
    load_report r;
    client c(ctx);
    co_await c.connect(ep);
    std::vector<pending_request> batch;
    std::size_t queued = 0;
    auto add = [&](std::string req, std::string reply) {
        if (queued < requests) {
            batch.push_back({std::move(req), std::move(reply)});
            ++queued;
            return true;
        }
        return false;
    };
    // `add` counts what it queues; a while loop, since the condition changes through it.
    std::size_t i = 0;
    while (queued < requests) {
        const std::string key = "c" + std::to_string(id) + "_k" + std::to_string(i % 97);
        const std::string v1 = "value " + std::to_string(i) + " of " + std::to_string(id);
        const std::string v2 = v1 + " (updated)";
        if (add("SET " + key + " " + v1, "OK")) {
            r.expected[key] = v1;
        }
        add("GET " + key, "VALUE " + v1);
        if (add("SET " + key + " " + v2, "OK")) {
            r.expected[key] = v2;
        }
        add("GET " + key, "VALUE " + v2);
        if (i % 2 == 0) {
            if (add("DEL " + key, "DELETED")) {
                r.expected.erase(key);
            }
        } else {
            add("GET c" + std::to_string(id) + "_absent", "NOT_FOUND");
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

/// Sends malformed requests, each of which must get an ERROR reply on a connection that stays
/// usable, then checks with GET that every key in `expected` still has its value. Returns the
/// number of failed checks (0 when all is well); `log` gets a line per failure.
inline cotrait::boxed_task<std::size_t>
check_malformed(asio::io_context& ctx, asio::ip::tcp::endpoint ep,
                const std::map<std::string, std::string>& expected, std::string& log) {
    client c(ctx);
    co_await c.connect(ep);
    std::size_t failures = 0;
    auto want_error = [&](const std::string& what, const std::string& reply) {
        if (reply.rfind("ERROR ", 0) != 0) {
            ++failures;
            log += "malformed request " + what + " got: " + reply + "\n";
        }
    };
    const std::vector<std::string> bad = {
        "",
        "FOO bar",
        "get lowercase",
        "GET",
        "GET ",
        "GET two words",
        "DEL",
        "SET",
        "SET onlykey",
        "SET " + std::string(max_key + 1, 'k') + " v",
        "SET key " + std::string(max_value + 1, 'v'),
        std::string("SET key bad\x01value"),
        std::string("GET \x7f\x80\xff"),
        "PING extra",
    };
    for (const std::string& b : bad) {
        want_error("'" + b.substr(0, 24) + "'", co_await c.request(b));
    }
    // An overlong line: one ERROR, then the connection carries on after its line break.
    co_await c.send_raw(std::string(3 * max_line, 'x') + "\n");
    want_error("<overlong line>", co_await c.read_reply());
    // A request split across writes is still one request.
    co_await c.send_raw("PI");
    co_await c.send_raw("NG\r\n");
    if (const std::string r = co_await c.read_reply(); r != "PONG") {
        ++failures;
        log += "split PING got: " + r + "\n";
    }
    // Nothing was lost or changed by the bad requests.
    for (const auto& [k, v] : expected) {
        if (const std::string r = co_await c.request("GET " + k); r != "VALUE " + v) {
            ++failures;
            log += "after malformed requests GET " + k + " got: " + r + "\n";
        }
    }
    if (const std::string r = co_await c.request("SIZE");
        r != "SIZE " + std::to_string(expected.size())) {
        ++failures;
        log += "SIZE got: " + r + "\n";
    }
    c.close();
    co_return failures;
}

} // namespace kv
