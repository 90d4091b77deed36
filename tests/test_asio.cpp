// asio interop: awaiting asio operations with cotrait::use_task, running tasks on an io_context,
// cancellation through std::stop_token, and errors as exceptions. Loopback only.
#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/task_error.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {

const asio::ip::address loopback = asio::ip::make_address("127.0.0.1");

cotrait::boxed_task<std::chrono::steady_clock::duration> sleep_for(asio::io_context& ctx,
                                                                   std::chrono::milliseconds d) {
    asio::steady_timer timer(ctx, d);
    const auto start = std::chrono::steady_clock::now();
    co_await timer.async_wait(cotrait::use_task);
    co_return std::chrono::steady_clock::now() - start;
}

// Echoes one connection until the peer closes it.
cotrait::boxed_task<std::size_t> echo_session(tcp::socket sock) {
    std::array<char, 256> buf{};
    std::size_t total = 0;
    for (;;) {
        std::size_t n = 0;
        try {
            n = co_await sock.async_read_some(asio::buffer(buf), cotrait::use_task);
        } catch (const asio::system_error& e) {
            if (e.code() == asio::error::eof) {
                co_return total;
            }
            throw;
        }
        total += n;
        co_await asio::async_write(sock, asio::buffer(buf.data(), n), cotrait::use_task);
    }
}

cotrait::static_task<std::string> echo_client(asio::io_context& ctx, tcp::endpoint ep,
                                              std::string message) {
    tcp::socket sock(ctx);
    co_await sock.async_connect(ep, cotrait::use_task);
    co_await asio::async_write(sock, asio::buffer(message), cotrait::use_task);
    std::string reply(message.size(), '\0');
    const std::size_t n = co_await asio::async_read(sock, asio::buffer(reply), cotrait::use_task);
    reply.resize(n);
    sock.shutdown(tcp::socket::shutdown_send);
    co_return reply;
}

} // namespace

TEST_CASE("a timer is awaited with use_task") {
    asio::io_context ctx;
    const auto elapsed = cotrait::run_on(ctx, sleep_for(ctx, 10ms));
    CHECK(elapsed >= 10ms);
}

TEST_CASE("several timers run concurrently under when_all") {
    asio::io_context ctx;
    using clock = std::chrono::steady_clock;
    auto timed = [](asio::io_context& c)
        -> cotrait::boxed_task<std::pair<clock::time_point, clock::time_point>> {
        const auto start = clock::now();
        asio::steady_timer timer(c, 20ms);
        co_await timer.async_wait(cotrait::use_task);
        co_return std::pair{start, clock::now()};
    };
    auto [a, b, c] = cotrait::run_on(ctx, cotrait::when_all(timed(ctx), timed(ctx), timed(ctx)));
    // Concurrent, not one after another: every timer started before any of them expired (this
    // holds however slow the machine is).
    const auto last_start = std::max({a.first, b.first, c.first});
    const auto first_end = std::min({a.second, b.second, c.second});
    CHECK(last_start < first_end);
    CHECK(first_end - a.first >= 20ms);
}

TEST_CASE("a TCP echo round trip on loopback") {
    asio::io_context ctx;
    tcp::acceptor acceptor(ctx, tcp::endpoint(loopback, 0));
    const tcp::endpoint ep = acceptor.local_endpoint();
    auto server = [](tcp::acceptor& acc) -> cotrait::boxed_task<std::size_t> {
        // async_accept completes with (error_code, socket): the socket is the result.
        tcp::socket peer = co_await acc.async_accept(cotrait::use_task);
        co_return co_await echo_session(std::move(peer));
    };
    auto [echoed, reply] = cotrait::run_on(
        ctx, cotrait::when_all(server(acceptor), echo_client(ctx, ep, "hello, cotrait")));
    CHECK(reply == "hello, cotrait");
    CHECK(echoed == reply.size());
}

TEST_CASE("end of stream is thrown as asio::error::eof, well before a short deadline") {
    // A peer that writes a few bytes and closes. Reading must yield those bytes and then throw eof,
    // for a single read and for a composed read that wanted more. Each read races a 5 s deadline
    // (stop through use_task(token)), and the loop is bounded, so a lost or swallowed end of stream
    // fails here with a message instead of hanging the suite until the ctest timeout.
    asio::io_context ctx;
    tcp::acceptor acceptor(ctx, tcp::endpoint(loopback, 0));
    const tcp::endpoint ep = acceptor.local_endpoint();
    enum class ending { none, eof, other_error, deadline, too_many_reads };
    struct outcome {
        std::string data;
        ending end = ending::none;
        int empty_reads = 0;
        std::string composed_data;
        ending composed_end = ending::none;
    };
    auto peer = [](asio::io_context& c, tcp::endpoint e) -> cotrait::boxed_task<> {
        for (int i = 0; i < 2; ++i) {
            tcp::socket sock(c);
            co_await sock.async_connect(e, cotrait::use_task);
            co_await asio::async_write(sock, asio::buffer(std::string("abc")), cotrait::use_task);
            sock.close(); // end of stream for the reader
        }
    };
    auto deadline = [](asio::io_context& c, std::stop_source s,
                       std::stop_token done) -> cotrait::boxed_task<> {
        asio::steady_timer timer(c, 5s);
        try {
            co_await timer.async_wait(cotrait::use_task(done));
        } catch (const cotrait::operation_cancelled&) {
            co_return; // the reader finished first
        }
        s.request_stop();
    };
    auto classify = [](const asio::system_error& e) {
        return e.code() == asio::error::eof ? ending::eof : ending::other_error;
    };
    auto reader = [&](tcp::acceptor& acc, std::stop_token tok,
                      std::stop_source finished) -> cotrait::boxed_task<outcome> {
        outcome out;
        {
            tcp::socket sock = co_await acc.async_accept(cotrait::use_task);
            std::array<char, 16> buf{};
            out.end = ending::too_many_reads;
            for (int i = 0; i < 16; ++i) {
                try {
                    const std::size_t n =
                        co_await sock.async_read_some(asio::buffer(buf), cotrait::use_task(tok));
                    out.empty_reads += n == 0 ? 1 : 0;
                    out.data.append(buf.data(), n);
                } catch (const asio::system_error& e) {
                    out.end = classify(e);
                    break;
                } catch (const cotrait::operation_cancelled&) {
                    out.end = ending::deadline;
                    break;
                }
            }
        }
        {
            tcp::socket sock = co_await acc.async_accept(cotrait::use_task);
            std::string wanted(8, '\0'); // more than the peer sends
            try {
                const std::size_t n =
                    co_await asio::async_read(sock, asio::buffer(wanted), cotrait::use_task(tok));
                out.composed_data = wanted.substr(0, n);
                out.composed_end = ending::none;
            } catch (const asio::system_error& e) {
                out.composed_end = classify(e);
            } catch (const cotrait::operation_cancelled&) {
                out.composed_end = ending::deadline;
            }
        }
        finished.request_stop();
        co_return out;
    };
    std::stop_source expire;
    std::stop_source finished;
    const auto start = std::chrono::steady_clock::now();
    auto [out, p, d] = cotrait::run_on(
        ctx, cotrait::when_all(reader(acceptor, expire.get_token(), finished), peer(ctx, ep),
                               deadline(ctx, expire, finished.get_token())));
    CHECK(out.data == "abc");
    CHECK(out.empty_reads == 0);
    CHECK(out.end == ending::eof);
    CHECK(out.composed_end == ending::eof);
    CHECK_FALSE(expire.stop_requested());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("operation errors are thrown as asio::system_error") {
    asio::io_context ctx;
    // A port that was just free: nothing listens there now.
    tcp::endpoint closed;
    {
        tcp::acceptor probe(ctx, tcp::endpoint(loopback, 0));
        closed = probe.local_endpoint();
    }
    auto connect = [](asio::io_context& c, tcp::endpoint ep) -> cotrait::boxed_task<> {
        tcp::socket sock(c);
        co_await sock.async_connect(ep, cotrait::use_task);
    };
    try {
        cotrait::run_on(ctx, connect(ctx, closed));
        FAIL("connect to a closed port succeeded");
    } catch (const asio::system_error& e) {
        CHECK(e.code() == asio::error::connection_refused);
    }
}

TEST_CASE("a pending timer is cancelled through use_task(token)") {
    asio::io_context ctx;
    std::stop_source src;
    auto waiter = [](asio::io_context& c, std::stop_token tok) -> cotrait::boxed_task<bool> {
        asio::steady_timer timer(c, 10s); // would outlast the test: only cancellation ends it
        try {
            co_await timer.async_wait(cotrait::use_task(tok));
        } catch (const cotrait::operation_cancelled&) {
            co_return true;
        }
        co_return false;
    };
    auto stopper = [](asio::io_context& c, std::stop_source s) -> cotrait::boxed_task<> {
        asio::steady_timer t(c, 5ms);
        co_await t.async_wait(cotrait::use_task);
        s.request_stop();
    };
    const auto start = std::chrono::steady_clock::now();
    auto [cancelled, v] =
        cotrait::run_on(ctx, cotrait::when_all(waiter(ctx, src.get_token()), stopper(ctx, src)));
    CHECK(cancelled);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("use_task(token) with stop already requested does not start the operation") {
    asio::io_context ctx;
    std::stop_source src;
    src.request_stop();
    auto waiter = [](asio::io_context& c, std::stop_token tok) -> cotrait::boxed_task<> {
        asio::steady_timer timer(c, 10s);
        co_await timer.async_wait(cotrait::use_task(tok));
    };
    CHECK_THROWS_AS(cotrait::run_on(ctx, waiter(ctx, src.get_token())),
                    cotrait::operation_cancelled);
}

TEST_CASE("use_task(token): an operation that finishes first is not affected by a later stop") {
    asio::io_context ctx;
    std::stop_source src;
    auto t = [](asio::io_context& c, std::stop_source s) -> cotrait::boxed_task<int> {
        asio::steady_timer timer(c, 1ms);
        co_await timer.async_wait(cotrait::use_task(s.get_token()));
        s.request_stop(); // the emit posted now must find the operation done
        asio::steady_timer again(c, 1ms);
        co_await again.async_wait(cotrait::use_task);
        co_return 1;
    };
    CHECK(cotrait::run_on(ctx, t(ctx, src)) == 1);
}

TEST_CASE("tasks spawned onto an io_context run by several threads") {
    asio::io_context ctx;
    tcp::acceptor acceptor(ctx, tcp::endpoint(loopback, 0));
    const tcp::endpoint ep = acceptor.local_endpoint();
    cotrait::async_scope sessions;
    std::atomic<int> replies{0};
    auto guard = asio::make_work_guard(ctx);
    std::thread t1([&] { ctx.run(); });
    std::thread t2([&] { ctx.run(); });
    {
        cotrait::async_scope clients;
        constexpr int n = 16;
        // The accept loop and its sessions use the acceptor from one coroutine at a time.
        cotrait::spawn_on(sessions, ctx.get_executor(),
                          [](tcp::acceptor& acc, cotrait::async_scope& s) -> cotrait::boxed_task<> {
                              for (int i = 0; i < n; ++i) {
                                  tcp::socket peer = co_await acc.async_accept(cotrait::use_task);
                                  s.spawn(echo_session(std::move(peer)));
                              }
                          }(acceptor, sessions));
        for (int i = 0; i < n; ++i) {
            cotrait::spawn_on(clients, ctx.get_executor(),
                              [](asio::io_context& c, tcp::endpoint e, int id,
                                 std::atomic<int>& ok) -> cotrait::boxed_task<> {
                                  const std::string msg = "client " + std::to_string(id);
                                  if (co_await echo_client(c, e, msg) == msg) {
                                      ++ok;
                                  }
                              }(ctx, ep, i, replies));
        }
        cotrait::sync_wait(clients.join());
    }
    cotrait::sync_wait(sessions.join());
    guard.reset();
    t1.join();
    t2.join();
    CHECK(replies == 16);
}

TEST_CASE("schedule_on moves a task from a thread_pool onto the io_context and back") {
    asio::io_context ctx;
    cotrait::thread_pool pool(1);
    auto t = [](asio::io_context& c, cotrait::thread_pool& p) -> cotrait::boxed_task<int> {
        int ok = 0;
        const auto io_thread = std::this_thread::get_id();
        for (int i = 0; i < 20; ++i) {
            co_await p.schedule();
            ok += p.running_in_this_thread() ? 1 : 0;
            co_await cotrait::schedule_on(c.get_executor());
            ok += std::this_thread::get_id() == io_thread ? 1 : 0;
        }
        co_return ok;
    };
    CHECK(cotrait::run_on(ctx, t(ctx, pool)) == 40);
}

TEST_CASE("schedule_on(ex, token) throws operation_cancelled once stop was requested") {
    asio::io_context ctx;
    std::stop_source src;
    src.request_stop();
    auto t = [](asio::io_context& c, std::stop_token tok) -> cotrait::boxed_task<> {
        co_await cotrait::schedule_on(c.get_executor(), tok);
    };
    CHECK_THROWS_AS(cotrait::run_on(ctx, t(ctx, src.get_token())), cotrait::operation_cancelled);
}

TEST_CASE("run_on rethrows and returns references") {
    asio::io_context ctx;
    auto fails = []() -> cotrait::boxed_task<int> {
        throw std::runtime_error("on io_context");
        co_return 0;
    };
    CHECK_THROWS_WITH(cotrait::run_on(ctx, fails()), "on io_context");
    int x = 1;
    auto ref = [](int& v) -> cotrait::boxed_task<int&> { co_return v; };
    int& r = cotrait::run_on(ctx, ref(x));
    CHECK(&r == &x);
}

namespace {

cotrait::task_errc run_on_misuse_code(const std::function<void()>& f) {
    try {
        f();
    } catch (const cotrait::task_misuse& e) {
        return e.code();
    }
    return cotrait::task_errc{};
}

cotrait::boxed_task<int> value_of(int v) {
    co_return v;
}

cotrait::boxed_task<int> needs_pool(cotrait::thread_pool& pool) {
    co_await pool.schedule();
    co_return 5;
}

} // namespace

// Before the check, both cases below hung: the awaited task needs the very thread run_on blocks
// (the ctest timeout bounds them).
TEST_CASE("run_on on a thread_pool thread throws task_misuse{blocking_wait}") {
    cotrait::thread_pool pool(1);
    asio::io_context ctx;
    cotrait::boxed_task<int> work = needs_pool(pool);
    auto on_pool = [&]() -> cotrait::boxed_task<cotrait::task_errc> {
        co_await pool.schedule();
        co_return run_on_misuse_code([&] { (void)cotrait::run_on(ctx, std::move(work)); });
    };
    CHECK(cotrait::sync_wait(on_pool()) == cotrait::task_errc::blocking_wait);
    // Nothing was started: the task still runs when awaited properly.
    CHECK(cotrait::sync_wait(std::move(work)) == 5);
}

TEST_CASE("run_on from a handler of the same io_context throws task_misuse{blocking_wait}") {
    asio::io_context ctx;
    cotrait::task_errc code{};
    asio::post(
        ctx, [&] { code = run_on_misuse_code([&] { (void)cotrait::run_on(ctx, value_of(1)); }); });
    ctx.run();
    CHECK(code == cotrait::task_errc::blocking_wait);
    // From outside, the same io_context is fine.
    ctx.restart();
    CHECK(cotrait::run_on(ctx, value_of(2)) == 2);
}

// ---- The kv_server example's service (examples/kv_server) ------------------------------------

#include "kv_client.hpp"
#include "kv_server.hpp"
#include "kv_storage.hpp"

#include <filesystem>
#include <map>

namespace {

// Serves `store` on a server thread, runs `requests` checked requests over 8 connections and the
// malformed-request checks from this thread, then stops the server.
template <class Store>
void exercise_service(Store& store, std::size_t requests) {
    asio::io_context server_ctx;
    kv::server<Store> srv(server_ctx, store);
    REQUIRE(srv.endpoint().address().is_loopback());
    REQUIRE(srv.endpoint().port() != 0);
    cotrait::async_scope server_scope;
    cotrait::spawn_on(server_scope, server_ctx.get_executor(), srv.run());
    std::thread server_thread([&] { server_ctx.run(); });

    asio::io_context client_ctx;
    const kv::load_report load =
        cotrait::run_on(client_ctx, kv::run_load(client_ctx, srv.endpoint(), requests, 8));
    std::string log;
    const std::size_t failures = cotrait::run_on(
        client_ctx, kv::check_malformed(client_ctx, srv.endpoint(), load.expected, log));
    srv.stop();
    cotrait::sync_wait(server_scope.join());
    server_thread.join();

    CHECK(load.requests == requests);
    CHECK(load.mismatches == 0);
    INFO(load.first_mismatch);
    CHECK(failures == 0);
    INFO(log);
    CHECK(srv.errors() == 15); // every malformed request, and nothing else, was an error
    CHECK(srv.requests() >= requests + 15);
}

} // namespace

TEST_CASE("kv service: virtual in-memory storage under load and malformed requests") {
    kv::memory_store mem;
    cotrait::adapter<kv::storage, kv::memory_store&> virt(mem);
    kv::storage& store = virt;
    exercise_service(store, 2'000);
}

TEST_CASE("kv service: static path (implementation called directly)") {
    kv::memory_store mem;
    exercise_service(mem, 2'000);
}

TEST_CASE("kv service: file storage keeps its data across a reopen") {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("cotrait_test_kv_" + std::to_string(reinterpret_cast<std::uintptr_t>(&path)) + ".log");
    std::filesystem::remove(path);
    std::map<std::string, std::string> before;
    {
        kv::file_store file(path.string());
        cotrait::adapter<kv::storage, kv::file_store&> virt(file);
        kv::storage& store = virt;
        exercise_service(store, 2'000);
        before = file.snapshot();
    }
    REQUIRE_FALSE(before.empty());
    {
        kv::file_store reopened(path.string());
        CHECK(reopened.snapshot() == before);
    }
    std::filesystem::remove(path);
}
