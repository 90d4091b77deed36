// The key-value server: accepts TCP connections and answers RESP requests (kv_protocol.hpp) from a
// storage, one coroutine per connection, all owned by an async_scope. Connections are spread over
// one or more io_contexts (one I/O thread each); a connection stays on the one it was given.
#pragma once

#include "kv_protocol.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/async_semaphore.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/timer.hpp>

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
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kv {

/// A cotrait scheduler (`co_await s.schedule()` moves onto it) for an asio io_context, so that
/// cotrait's own timers (`cotrait::with_timeout`, `sleep_for`) can resume coroutines on the
/// server's I/O threads: the timer thread posts the coroutine to the io_context.
struct io_scheduler {
    asio::io_context::executor_type ex;
    [[nodiscard]] auto schedule() const { return cotrait::schedule_on(ex); }
    /// Lets `cotrait::resume_on` skip the hop when already there.
    [[nodiscard]] bool running_in_this_thread() const noexcept {
        return ex.running_in_this_thread();
    }
};

/// Limits and policies of a server (docs/execution.md, "Limits").
struct server_options {
    /// Reply bytes a connection may queue before the server stops reading its requests until
    /// the socket has taken them: a client that sends but does not read cannot grow the server.
    std::size_t max_reply_bytes = 64 * 1024;
    /// A connection with no completed read or write for this long is closed (zero: never).
    std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
    /// Pause after a failed accept (descriptors exhausted, ...) before trying again.
    std::chrono::milliseconds accept_retry_delay{100};
    /// A request whose storage calls take longer than this is answered `-ERR timeout` (zero: no
    /// deadline). The storage interface takes no stop token and a call may hold views of the
    /// request buffer, so a late call is awaited, never abandoned: the error reply comes when it
    /// finishes, and its effect (a SET) may have been applied, as with any client-side timeout.
    std::chrono::milliseconds request_timeout{0};
    /// Connections served at once. Beyond it, the server stops accepting until one ends: new
    /// clients wait in the listen backlog (the kernel's, bounded by somaxconn) and are served in
    /// turn; nothing is read from them meanwhile.
    std::size_t max_connections = 10'000;
    /// Where diagnostics go (one line each, without "\n"); stderr when empty.
    std::function<void(const std::string&)> log;
};

/// Serves `Store` (the virtual `kv::storage` or an implementation called directly) on a TCP
/// endpoint, on one or more io_contexts, each of which must be run by exactly one thread: the
/// first accepts, and the connections are handed to them in turn. A connection's state lives on
/// its io_context's thread and needs no locks; `Store` must be thread-safe when there are several.
/// `stop()` may be called from anywhere.
template <class Store>
class server {
public:
    server(asio::io_context& ctx, Store& store,
           const asio::ip::tcp::endpoint& ep = {asio::ip::make_address("127.0.0.1"), 0},
           server_options opt = {})
        : server(std::span<asio::io_context* const>(std::array{&ctx}), store, ep, std::move(opt)) {}

    /// Connections are spread over `ctxs` (at least one; `ctxs[0]` also accepts).
    server(std::span<asio::io_context* const> ctxs, Store& store,
           const asio::ip::tcp::endpoint& ep = {asio::ip::make_address("127.0.0.1"), 0},
           server_options opt = {})
        : store_(&store), acceptor_(*ctxs.front(), ep), opt_(std::move(opt)),
          slots_(opt_.max_connections) {
        if (opt_.max_connections == 0) {
            throw std::invalid_argument("kv::server: max_connections must be at least 1");
        }
        for (asio::io_context* c : ctxs) {
            workers_.push_back(std::make_unique<worker>(*c));
        }
        acceptor_.non_blocking(true); // run() accepts only after a readiness wait
    }

    /// Where the server listens (with the ephemeral port filled in).
    [[nodiscard]] asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

    /// Accepts and serves connections until stop(); returns once every connection has ended.
    /// A failed accept (EMFILE, ENFILE, ENOBUFS, ECONNABORTED, ...) is logged and retried after
    /// a pause: only stop() (closing the acceptor) ends the loop.
    cotrait::boxed_task<> run() {
        if (opt_.idle_timeout.count() > 0) {
            for (auto& w : workers_) {
                cotrait::spawn_on(sessions_, w->sched.ex, reap_idle(*w));
            }
        }
        worker& home = *workers_.front();
        std::size_t failures = 0; // consecutive failed accepts
        std::size_t turn = 0;     // the worker the next connection goes to
        for (;;) {
            // A permit per connection, taken before accepting: at the limit, new clients stay in
            // the kernel's backlog until a connection ends (its permit resumes this coroutine, on
            // the thread where it ended: hence the hop back home).
            if (!slots_.try_acquire()) {
                bool stopped = false;
                try {
                    co_await slots_.acquire(stop_.get_token());
                } catch (const cotrait::operation_cancelled&) {
                    stopped = true;
                }
                co_await cotrait::schedule_on(home.sched.ex);
                if (stopped) {
                    break;
                }
            }
            cotrait::semaphore_permit permit(slots_);
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
            worker& w = *workers_[turn];
            asio::ip::tcp::socket sock(*w.ctx);
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
                asio::steady_timer pause(*home.ctx, opt_.accept_retry_delay);
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
            turn = (turn + 1) % workers_.size();
            if (&w == &home) {
                sessions_.spawn(session(w, std::move(sock), std::move(permit)));
            } else {
                cotrait::spawn_on(sessions_, w.sched.ex,
                                  session(w, std::move(sock), std::move(permit)));
            }
        }
        co_await sessions_.join();
    }

    /// Stops accepting and closes every connection. Thread-safe.
    void stop() {
        stopping_.store(true);
        asio::post(*workers_.front()->ctx, [this] {
            asio::error_code ignored;
            acceptor_.close(ignored);
            stop_.request_stop(); // an accept loop waiting for a connection slot
        });
        for (auto& wp : workers_) {
            worker* w = wp.get();
            asio::post(*w->ctx, [w] {
                w->reaper.cancel();
                for (connection* c : w->live) {
                    c->close();
                }
            });
        }
    }

    /// Requests answered, requests answered with ERROR, failed accepts, connections closed for
    /// idleness (snapshots; thread-safe).
    [[nodiscard]] std::size_t requests() const noexcept { return requests_.load(); }
    [[nodiscard]] std::size_t errors() const noexcept { return errors_.load(); }
    [[nodiscard]] std::size_t accept_errors() const noexcept { return accept_errors_.load(); }
    [[nodiscard]] std::size_t idle_closed() const noexcept { return idle_closed_.load(); }
    /// Requests answered `-ERR timeout` (past `request_timeout`).
    [[nodiscard]] std::size_t timeouts() const noexcept { return timeouts_.load(); }
    /// Connections being served now (not counting those waiting for a slot).
    [[nodiscard]] std::size_t connections() const noexcept { return connections_.load(); }

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

    // An I/O thread's share: only touched on that thread.
    struct worker {
        explicit worker(asio::io_context& c) : ctx(&c), sched{c.get_executor()}, reaper(c) {}
        asio::io_context* ctx;
        io_scheduler sched;
        std::set<connection*> live;
        asio::steady_timer reaper;
    };

    void say(const std::string& line) const {
        const std::lock_guard<std::mutex> lock(log_mutex_); // I/O threads share the log
        if (opt_.log) {
            opt_.log(line);
        } else {
            std::fprintf(stderr, "%s\n", line.c_str());
        }
    }

    // The permit is released last, when the frame goes: the connection is gone by then.
    cotrait::boxed_task<> session(worker& w, asio::ip::tcp::socket sock,
                                  cotrait::semaphore_permit permit) {
        connection c(std::move(sock));
        w.live.insert(&c);
        connections_.fetch_add(1);
        if (stopping_.load()) {
            c.close(); // stop() ran before this connection reached its thread
        }
        try {
            co_await serve(w, c);
        } catch (const std::exception&) {
            // The peer went away (reset, or stop() / the idle reaper closed the socket): the
            // connection just ends.
        }
        w.live.erase(&c);
        connections_.fetch_sub(1);
        (void)permit;
    }

    // Closes connections that have made no progress for idle_timeout; ticks a few times per
    // timeout so that one is closed at most a quarter of a timeout late.
    cotrait::boxed_task<> reap_idle(worker& w) {
        const auto tick = std::clamp<clock::duration>(
            opt_.idle_timeout / 4, std::chrono::milliseconds(5), std::chrono::seconds(1));
        for (;;) {
            if (stopping_.load()) {
                co_return;
            }
            w.reaper.expires_after(tick);
            try {
                co_await w.reaper.async_wait(cotrait::use_task);
            } catch (const asio::system_error&) {
                co_return; // stop()
            }
            const clock::time_point now = clock::now();
            for (connection* c : w.live) {
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
    cotrait::boxed_task<> serve(worker& w, connection& c) {
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
                    if (!args.empty() && co_await answer(w, args, out) == after_request::close) {
                        close = true;
                    }
                }
                const bool more = !close && out.size() >= opt_.max_reply_bytes;
                if (!out.empty()) {
                    co_await send(w, c, out);
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
    // A store may finish sync() on a thread of its own (the file store's flusher): the
    // connection's state is its I/O thread's, so it goes back there first.
    cotrait::boxed_task<> send(worker& w, connection& c, std::string& out) {
        std::exception_ptr failed;
        try {
            co_await store_->sync();
        } catch (const std::exception& e) {
            say(std::string("kv_server: closing a connection, its writes are not durable: ") +
                e.what());
            failed = std::current_exception();
        }
        if (!w.sched.running_in_this_thread()) {
            co_await w.sched.schedule();
        }
        if (failed) {
            std::rethrow_exception(failed);
        }
        co_await asio::async_write(c.sock, asio::buffer(out), cotrait::use_task);
        c.last_activity = clock::now();
        out.clear();
    }

    cotrait::static_task<after_request> answer(worker& w, std::span<const std::string_view> args,
                                               std::string& out) {
        const std::size_t before = out.size();
        after_request next = after_request::keep_open;
        try {
            if (opt_.request_timeout.count() > 0) {
                // Named first: GCC 12 mishandles prvalue arguments inside a co_await operand.
                auto op = handle_request(*store_, args, out);
                auto bounded = cotrait::with_timeout(w.sched, opt_.request_timeout, std::move(op));
                next = co_await std::move(bounded);
                if (!w.sched.running_in_this_thread()) {
                    co_await w.sched.schedule(); // the storage finished on a thread of its own
                }
            } else {
                next = co_await handle_request(*store_, args, out);
            }
        } catch (const cotrait::timed_out&) {
            out.resize(before);
            reply_error(out, "ERR timeout");
            timeouts_.fetch_add(1, std::memory_order_relaxed);
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

    Store* store_;
    asio::ip::tcp::acceptor acceptor_;
    server_options opt_;
    cotrait::async_semaphore slots_; // one permit per connection served
    std::stop_source stop_;          // ends run()'s wait for a slot
    std::vector<std::unique_ptr<worker>> workers_;
    mutable std::mutex log_mutex_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> connections_{0};
    std::atomic<std::size_t> timeouts_{0};
    cotrait::async_scope sessions_; // last: joined (by run()) before the rest goes
    std::atomic<std::size_t> requests_{0};
    std::atomic<std::size_t> errors_{0};
    std::atomic<std::size_t> accept_errors_{0};
    std::atomic<std::size_t> idle_closed_{0};
};

} // namespace kv
