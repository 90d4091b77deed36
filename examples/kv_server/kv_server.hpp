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
#include <asio/write.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <exception>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace kv {

/// Serves `Store` (the virtual `kv::storage` or an implementation called directly) on a TCP
/// endpoint. Every member runs on the io_context the server was given, which must be run by one
/// thread (the server's state needs no locks then); `stop()` may be called from anywhere.
template <class Store>
class server {
public:
    server(asio::io_context& ctx, Store& store,
           const asio::ip::tcp::endpoint& ep = {asio::ip::make_address("127.0.0.1"), 0})
        : ctx_(&ctx), store_(&store), acceptor_(ctx, ep) {}

    /// Where the server listens (with the ephemeral port filled in).
    [[nodiscard]] asio::ip::tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

    /// Accepts and serves connections until stop(); returns once every connection has ended.
    cotrait::boxed_task<> run() {
        for (;;) {
            asio::ip::tcp::socket sock(*ctx_);
            try {
                co_await acceptor_.async_accept(sock, cotrait::use_task);
            } catch (const asio::system_error&) {
                break; // stop() closed the acceptor (or accepting failed for good)
            }
            asio::error_code ignored;
            sock.set_option(asio::ip::tcp::no_delay(true), ignored); // replies are small
            sessions_.spawn(session(std::move(sock)));
        }
        co_await sessions_.join();
    }

    /// Stops accepting and closes every connection. Thread-safe.
    void stop() {
        asio::post(*ctx_, [this] {
            asio::error_code ignored;
            acceptor_.close(ignored);
            for (asio::ip::tcp::socket* s : live_) {
                s->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                s->close(ignored);
            }
        });
    }

    /// Requests answered, and requests answered with ERROR (snapshots; thread-safe).
    [[nodiscard]] std::size_t requests() const noexcept { return requests_.load(); }
    [[nodiscard]] std::size_t errors() const noexcept { return errors_.load(); }

private:
    cotrait::boxed_task<> session(asio::ip::tcp::socket sock) {
        live_.insert(&sock);
        try {
            co_await serve(sock);
        } catch (const std::exception&) {
            // The peer went away (reset, or stop() closed the socket): the connection just ends.
        }
        live_.erase(&sock);
    }

    // Reads request lines, answers every complete line in the buffer with one write. A line
    // longer than max_line is answered with an error and skipped up to its line break.
    cotrait::boxed_task<> serve(asio::ip::tcp::socket& sock) {
        std::string in;
        std::string out;
        bool skipping = false; // inside an overlong line
        std::array<char, 4096> chunk{};
        for (;;) {
            std::size_t n = 0;
            try {
                n = co_await sock.async_read_some(asio::buffer(chunk), cotrait::use_task);
            } catch (const asio::system_error& e) {
                if (e.code() == asio::error::eof) {
                    co_return;
                }
                throw;
            }
            in.append(chunk.data(), n);
            std::size_t start = 0;
            for (;;) {
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
            in.erase(0, start);
            if (in.size() > max_line) {
                if (!skipping) {
                    out += "ERROR line too long\n";
                    errors_.fetch_add(1, std::memory_order_relaxed);
                    requests_.fetch_add(1, std::memory_order_relaxed);
                }
                skipping = true;
                in.clear();
            }
            if (!out.empty()) {
                co_await asio::async_write(sock, asio::buffer(out), cotrait::use_task);
                out.clear();
            }
        }
    }

    cotrait::static_task<void> answer(std::string_view line, std::string& out) {
        const std::size_t before = out.size();
        try {
            co_await handle_request(*store_, line, out);
        } catch (const std::exception&) {
            out.resize(before);
            out += "ERROR internal\n";
        }
        if (out.compare(before, 6, "ERROR ") == 0) {
            errors_.fetch_add(1, std::memory_order_relaxed);
        }
        requests_.fetch_add(1, std::memory_order_relaxed);
    }

    asio::io_context* ctx_;
    Store* store_;
    asio::ip::tcp::acceptor acceptor_;
    cotrait::async_scope sessions_;
    std::set<asio::ip::tcp::socket*> live_;
    std::atomic<std::size_t> requests_{0};
    std::atomic<std::size_t> errors_{0};
};

} // namespace kv
