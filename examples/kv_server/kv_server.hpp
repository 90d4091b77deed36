// The key-value server: accepts TCP connections and answers kv_protocol requests from a storage,
// one coroutine per connection, all owned by an async_scope.
#pragma once

#include "kv_protocol.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace kv {

/// Limits and policies of a server (docs/execution.md, "Limits").
struct server_options {
    /// Reply bytes a connection may queue before the server stops reading its requests until
    /// the socket has taken them: a client that sends but does not read cannot grow the server.
    std::size_t max_reply_bytes = 64 * 1024;
    /// A connection with no completed read or write for this long is closed (zero: never).
    std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
    /// Pause after a failed accept (descriptors exhausted, ...) before trying again.
    std::chrono::milliseconds accept_retry_delay{100};
    /// Where diagnostics go (one line each, without "\n"); stderr when empty.
    std::function<void(const std::string&)> log;
};

/// Serves `Store` (the virtual `kv::storage` or an implementation called directly) on a TCP
/// endpoint. Every member runs on the io_context the server was given, which must be run by one
/// thread (the server's state needs no locks then); `stop()` may be called from anywhere.
template <class Store>
class server {
public:
    server(asio::io_context& ctx, Store& store,
           const asio::ip::tcp::endpoint& ep = {asio::ip::make_address("127.0.0.1"), 0},
           server_options opt = {})
        : ctx_(&ctx), store_(&store), acceptor_(ctx, ep), reaper_(ctx), opt_(std::move(opt)) {}

    /// Where the server listens (with the ephemeral port filled in).
    [[nodiscard]] asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

    /// Accepts and serves connections until stop(); returns once every connection has ended.
    /// A failed accept (EMFILE, ENFILE, ENOBUFS, ECONNABORTED, ...) is logged and retried after
    /// a pause: only stop() (closing the acceptor) ends the loop.
    cotrait::boxed_task<> run() {
        if (opt_.idle_timeout.count() > 0) {
            sessions_.spawn(reap_idle());
        }
        std::size_t failures = 0; // consecutive failed accepts
        for (;;) {
            asio::ip::tcp::socket sock(*ctx_);
            asio::error_code ec;
            try {
                co_await acceptor_.async_accept(sock, cotrait::use_task);
            } catch (const asio::system_error& e) {
                ec = e.code();
            }
            if (ec) {
                if (!acceptor_.is_open()) {
                    break; // stop()
                }
                accept_errors_.fetch_add(1, std::memory_order_relaxed);
                if (failures++ == 0) {
                    say("kv_server: accept failed: " + ec.message() + "; retrying every " +
                        std::to_string(opt_.accept_retry_delay.count()) + " ms");
                }
                asio::steady_timer pause(*ctx_, opt_.accept_retry_delay);
                try {
                    co_await pause.async_wait(cotrait::use_task);
                } catch (const asio::system_error&) {
                }
                continue;
            }
            if (failures != 0) {
                say("kv_server: accepting again after " + std::to_string(failures) +
                    " failed attempts");
                failures = 0;
            }
            asio::error_code ignored;
            sock.set_option(asio::ip::tcp::no_delay(true), ignored); // replies are small
            sessions_.spawn(session(std::move(sock)));
        }
        reaper_.cancel();
        co_await sessions_.join();
    }

    /// Stops accepting and closes every connection. Thread-safe.
    void stop() {
        asio::post(*ctx_, [this] {
            asio::error_code ignored;
            acceptor_.close(ignored);
            reaper_.cancel();
            for (connection* c : live_) {
                c->close();
            }
        });
    }

    /// Requests answered, requests answered with ERROR, failed accepts, connections closed for
    /// idleness (snapshots; thread-safe).
    [[nodiscard]] std::size_t requests() const noexcept { return requests_.load(); }
    [[nodiscard]] std::size_t errors() const noexcept { return errors_.load(); }
    [[nodiscard]] std::size_t accept_errors() const noexcept { return accept_errors_.load(); }
    [[nodiscard]] std::size_t idle_closed() const noexcept { return idle_closed_.load(); }

private:
    using clock = std::chrono::steady_clock;

    struct connection {
        explicit connection(asio::ip::tcp::socket s) : sock(std::move(s)) {}
        void close() {
            asio::error_code ignored;
            sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
            sock.close(ignored);
        }
        asio::ip::tcp::socket sock;
        clock::time_point last_activity = clock::now();
    };

    void say(const std::string& line) const {
        if (opt_.log) {
            opt_.log(line);
        } else {
            std::fprintf(stderr, "%s\n", line.c_str());
        }
    }

    cotrait::boxed_task<> session(asio::ip::tcp::socket sock) {
        connection c(std::move(sock));
        live_.insert(&c);
        try {
            co_await serve(c);
        } catch (const std::exception&) {
            // The peer went away (reset, or stop() / the idle reaper closed the socket): the
            // connection just ends.
        }
        live_.erase(&c);
    }

    // Closes connections that have made no progress for idle_timeout; ticks a few times per
    // timeout so that one is closed at most a quarter of a timeout late.
    cotrait::boxed_task<> reap_idle() {
        const auto tick = std::clamp<clock::duration>(
            opt_.idle_timeout / 4, std::chrono::milliseconds(5), std::chrono::seconds(1));
        for (;;) {
            reaper_.expires_after(tick);
            try {
                co_await reaper_.async_wait(cotrait::use_task);
            } catch (const asio::system_error&) {
                co_return; // stop()
            }
            if (!acceptor_.is_open()) {
                co_return;
            }
            const clock::time_point now = clock::now();
            for (connection* c : live_) {
                if (now - c->last_activity >= opt_.idle_timeout && c->sock.is_open()) {
                    idle_closed_.fetch_add(1, std::memory_order_relaxed);
                    c->close();
                }
            }
        }
    }

    // Reads request lines and answers them, at most max_reply_bytes of replies per write: with
    // that much queued it stops answering (and reading) until the write has completed. A line
    // longer than max_line is answered with an error and skipped up to its line break.
    cotrait::boxed_task<> serve(connection& c) {
        std::string in;
        std::string out;
        bool skipping = false; // inside an overlong line
        std::array<char, 4096> chunk{};
        for (;;) {
            std::size_t n = 0;
            try {
                n = co_await c.sock.async_read_some(asio::buffer(chunk), cotrait::use_task);
            } catch (const asio::system_error& e) {
                if (e.code() == asio::error::eof) {
                    co_return;
                }
                throw;
            }
            c.last_activity = clock::now();
            in.append(chunk.data(), n);
            std::size_t start = 0;
            for (;;) {
                while (out.size() < opt_.max_reply_bytes) {
                    const std::size_t nl = in.find('\n', start);
                    if (nl == std::string::npos) {
                        break;
                    }
                    std::string_view line(in.data() + start, nl - start);
                    start = nl + 1;
                    if (skipping) {
                        skipping = false; // the rest of an overlong line, already answered
                        continue;
                    }
                    if (!line.empty() && line.back() == '\r') {
                        line.remove_suffix(1);
                    }
                    co_await answer(line, out);
                }
                const bool more = out.size() >= opt_.max_reply_bytes;
                if (!more) {
                    in.erase(0, start);
                    start = 0;
                    if (in.size() > max_line) {
                        if (!skipping) {
                            out += "ERROR line too long\n";
                            errors_.fetch_add(1, std::memory_order_relaxed);
                            requests_.fetch_add(1, std::memory_order_relaxed);
                        }
                        skipping = true;
                        in.clear();
                    }
                }
                if (!out.empty()) {
                    co_await send(c, out);
                }
                if (!more) {
                    break;
                }
            }
        }
    }

    // Replies leave only after the storage has made the writes they acknowledge durable.
    cotrait::boxed_task<> send(connection& c, std::string& out) {
        try {
            co_await store_->sync();
        } catch (const std::exception& e) {
            say(std::string("kv_server: closing a connection, its writes are not durable: ") +
                e.what());
            throw;
        }
        co_await asio::async_write(c.sock, asio::buffer(out), cotrait::use_task);
        c.last_activity = clock::now();
        out.clear();
    }

    cotrait::static_task<void> answer(std::string_view line, std::string& out) {
        const std::size_t before = out.size();
        try {
            co_await handle_request(*store_, line, out);
        } catch (const std::exception& e) {
            out.resize(before);
            out += "ERROR internal\n";
            say(std::string("kv_server: request failed: ") + e.what());
        }
        if (out.compare(before, 6, "ERROR ") == 0) {
            errors_.fetch_add(1, std::memory_order_relaxed);
        }
        requests_.fetch_add(1, std::memory_order_relaxed);
    }

    asio::io_context* ctx_;
    Store* store_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer reaper_;
    server_options opt_;
    cotrait::async_scope sessions_;
    std::set<connection*> live_;
    std::atomic<std::size_t> requests_{0};
    std::atomic<std::size_t> errors_{0};
    std::atomic<std::size_t> accept_errors_{0};
    std::atomic<std::size_t> idle_closed_{0};
};

} // namespace kv
