// The key-value server: accepts TCP connections and answers RESP requests (kv_protocol.hpp) from a
// storage, one coroutine per connection, all owned by an async_scope.
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
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
        : ctx_(&ctx), store_(&store), acceptor_(ctx, ep), reaper_(ctx), opt_(std::move(opt)) {
        acceptor_.non_blocking(true); // run() accepts only after a readiness wait
    }

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
            // Wait for a connection, then accept it without blocking, so that a failed accept
            // is an error code, not an exception: under descriptor exhaustion this path runs ten
            // times a second, and with no descriptors left nothing on it should need new ones
            // (UBSan's runtime, for one, cannot check types when it cannot open files).
            asio::error_code ec;
            try {
                co_await acceptor_.async_wait(asio::ip::tcp::acceptor::wait_read,
                                              cotrait::use_task);
            } catch (const asio::system_error&) {
                ec = asio::error::operation_aborted; // stop() (or a failed wait: retried below)
            }
            asio::ip::tcp::socket sock(*ctx_);
            if (!ec) {
                acceptor_.accept(sock, ec);
                if (ec == asio::error::would_block || ec == asio::error::try_again) {
                    continue; // another wake-up took it, or the peer has already gone
                }
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

    // Reads requests and answers them, at most max_reply_bytes of replies per write: with that
    // much queued it stops answering (and reading) until the write has completed. A framing
    // error is answered and ends the connection (the stream cannot be resynchronised), as QUIT
    // does.
    cotrait::boxed_task<> serve(connection& c) {
        std::string in;
        std::string out;
        std::vector<std::string_view> args;
        std::size_t need = 1; // bytes `in` must hold (past the parsed part) to be worth parsing
        std::array<char, 16384> chunk{};
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
            bool close = false;
            for (;;) {
                while (!close && out.size() < opt_.max_reply_bytes && in.size() - start >= need) {
                    const parse_result r = parse_request(std::string_view(in).substr(start), args);
                    if (r.status == parse_result::incomplete) {
                        need = r.need;
                        break;
                    }
                    if (r.status == parse_result::error) {
                        reply_error(out, "ERR Protocol error: " + std::string(r.why));
                        errors_.fetch_add(1, std::memory_order_relaxed);
                        requests_.fetch_add(1, std::memory_order_relaxed);
                        close = true;
                        break;
                    }
                    start += r.consumed;
                    need = 1;
                    if (!args.empty() && co_await answer(args, out) == after_request::close) {
                        close = true;
                    }
                }
                const bool more = !close && out.size() >= opt_.max_reply_bytes;
                if (!out.empty()) {
                    co_await send(c, out);
                }
                if (!more) {
                    break;
                }
            }
            if (close) {
                co_await linger(c);
                co_return;
            }
            in.erase(0, start);
        }
    }

    // Ends a connection after its last reply: closing a socket with unread input makes the kernel
    // send a reset, which can destroy the reply before the client reads it. So: half-close, and
    // discard what the client still sends (at most max_inline bytes; the idle timeout bounds the
    // wait) until it closes too.
    cotrait::boxed_task<> linger(connection& c) {
        asio::error_code ignored;
        c.sock.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        std::array<char, 4096> sink{};
        std::size_t discarded = 0;
        while (discarded < max_inline) {
            try {
                discarded += co_await c.sock.async_read_some(asio::buffer(sink), cotrait::use_task);
            } catch (const asio::system_error&) {
                break; // EOF: the client has closed its side
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

    cotrait::static_task<after_request> answer(std::span<const std::string_view> args,
                                               std::string& out) {
        const std::size_t before = out.size();
        after_request next = after_request::keep_open;
        try {
            next = co_await handle_request(*store_, args, out);
        } catch (const std::exception& e) {
            out.resize(before);
            reply_error(out, "ERR internal error");
            say(std::string("kv_server: request failed: ") + e.what());
        }
        if (out.size() > before && out[before] == '-') {
            errors_.fetch_add(1, std::memory_order_relaxed);
        }
        requests_.fetch_add(1, std::memory_order_relaxed);
        co_return next;
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
