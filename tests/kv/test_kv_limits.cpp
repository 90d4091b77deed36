// kv_server's per-request deadline (--request-timeout, cotrait::with_timeout on the server's
// io_context through kv::io_scheduler), its connection limit (--max-connections, an
// async_semaphore), and several I/O threads (--threads) with concurrent clients.
#include "kv_child.hpp"
#include "kv_running.hpp"
#include "kv_server.hpp"
#include "kv_storage.hpp"

#include <cotrait/interface.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>

using namespace std::chrono_literals;

namespace {

// A storage whose GET of "slow" takes `delay` (a cotrait timer resuming on the server's
// io_context), and that forwards everything else to a memory store.
class slow_store {
public:
    slow_store(asio::io_context& ctx, std::chrono::milliseconds delay)
        : sched_{ctx.get_executor()}, delay_(delay) {}

    cotrait::static_task<std::optional<std::string>> get(std::string_view key) {
        if (key == "slow") {
            slow_calls.fetch_add(1);
            co_await cotrait::sleep_for(sched_, delay_);
        }
        co_return co_await mem_.get(key);
    }
    cotrait::static_task<void> set(std::string_view key, std::string_view value) {
        return mem_.set(key, value);
    }
    cotrait::static_task<bool> erase(std::string_view key) { return mem_.erase(key); }
    cotrait::static_task<std::size_t> size() { return mem_.size(); }
    cotrait::static_task<void> clear() { return mem_.clear(); }
    cotrait::static_task<void> sync() { return mem_.sync(); }

    std::atomic<int> slow_calls{0};

private:
    kv::io_scheduler sched_;
    std::chrono::milliseconds delay_;
    kv::memory_store mem_;
};

// True if `fd` has something to read within `wait` (a bounded check that nothing came).
bool readable_within(int fd, std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
}

} // namespace

TEST_CASE("a request past --request-timeout is answered ERR timeout; the connection goes on") {
    asio::io_context ctx(1);
    slow_store slow(ctx, 300ms);
    cotrait::adapter<kv::storage, slow_store&> virt(slow);
    kv::storage& store = virt;
    kv::server_options opt;
    opt.request_timeout = 50ms;
    kv::server<kv::storage> srv(ctx, store, {asio::ip::make_address("127.0.0.1"), 0}, opt);
    cotrait::async_scope scope;
    cotrait::spawn_on(scope, ctx.get_executor(), srv.run());
    std::thread io([&] { ctx.run(); });
    {
        kvtest::conn c(srv.endpoint().port());
        REQUIRE(c.connected());
        CHECK(c.request("SET slow v") == "OK");
        CHECK(c.request("SET fast w") == "OK");
        const auto t0 = std::chrono::steady_clock::now();
        CHECK(c.request("GET slow") == "(error) ERR timeout");
        CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
        CHECK(slow.slow_calls == 1);
        // The same connection keeps serving, and requests within the deadline get their values.
        CHECK(c.request("GET fast") == "w");
        CHECK(c.request("PING") == "PONG");
        // Pipelined: the slow request times out between two that do not.
        REQUIRE(c.send("GET fast\r\nGET slow\r\nGET fast\r\n"));
        CHECK(c.line() == "w");
        CHECK(c.line() == "(error) ERR timeout");
        CHECK(c.line() == "w");
    }
    CHECK(srv.timeouts() == 2);
    srv.stop();
    cotrait::sync_wait(scope.join());
    io.join();
}

TEST_CASE("without --request-timeout a slow request is answered normally") {
    asio::io_context ctx(1);
    slow_store slow(ctx, 100ms);
    kv::server<slow_store> srv(ctx, slow); // the static path
    cotrait::async_scope scope;
    cotrait::spawn_on(scope, ctx.get_executor(), srv.run());
    std::thread io([&] { ctx.run(); });
    {
        kvtest::conn c(srv.endpoint().port());
        REQUIRE(c.connected());
        CHECK(c.request("SET slow v") == "OK");
        CHECK(c.request("GET slow") == "v");
    }
    CHECK(srv.timeouts() == 0);
    srv.stop();
    cotrait::sync_wait(scope.join());
    io.join();
}

TEST_CASE("connection limit N (--max-connections): client N+1 waits for a slot and is served when "
          "one frees up") {
    const unsigned threads = GENERATE(1U, 2U);
    INFO(threads << " I/O threads");
    kv::memory_store mem;
    kv::server_options opt;
    opt.max_connections = 2;
    kvtest::running_server<kv::memory_store> srv(mem, threads, opt);
    {
        auto c1 = std::make_unique<kvtest::conn>(srv.port());
        kvtest::conn c2(srv.port());
        REQUIRE(c1->connected());
        REQUIRE(c2.connected());
        CHECK(c1->request("PING") == "PONG");
        CHECK(c2.request("PING") == "PONG");
        CHECK(srv->connections() == 2);

        kvtest::conn c3(srv.port()); // the kernel completes the handshake: it is in the backlog
        REQUIRE(c3.connected());
        REQUIRE(c3.send("PING\r\n"));
        CHECK_FALSE(readable_within(c3.fd(), 300ms)); // not served while two are
        CHECK(srv->connections() == 2);

        c1.reset(); // a slot frees up
        CHECK(c3.line() == "PONG");
        CHECK(c2.request("PING") == "PONG");
        CHECK(srv->connections() == 2);
    }
    SECTION("stop() while a client waits for a slot ends the server") {
        kvtest::conn a(srv.port());
        kvtest::conn b(srv.port());
        CHECK(a.request("PING") == "PONG");
        CHECK(b.request("PING") == "PONG");
        kvtest::conn waiting(srv.port());
        REQUIRE(waiting.send("PING\r\n"));
        srv.stop(); // bounded: returns once every connection has ended
        CHECK(a.line() == std::nullopt);
        CHECK(srv->connections() == 0);
    }
}

TEST_CASE("a connection limit of 0 is refused") {
    kvtest::temp_dir dir("maxconn0");
    kvtest::child s({"--max-connections", "0"}, dir.path / "server.log");
    CHECK(s.port() == 0);
    CHECK(s.wait() == 2);
    CHECK(s.log().find("--max-connections needs a number in 1..") != std::string::npos);
}

TEST_CASE("two I/O threads: concurrent clients on the virtual and the static path") {
    const unsigned threads = GENERATE(1U, 2U);
    const bool virtual_path = GENERATE(false, true);
    INFO(threads << " I/O threads, " << (virtual_path ? "virtual" : "static") << " storage");
    kv::memory_store mem;
    constexpr int clients = 8;
    constexpr int rounds = 300;
    auto load = [&](unsigned short port) {
        std::vector<std::thread> ts;
        std::atomic<int> bad{0};
        for (int t = 0; t < clients; ++t) {
            ts.emplace_back([&, t] {
                kvtest::conn c(port);
                if (!c.connected()) {
                    ++bad;
                    return;
                }
                for (int i = 0; i < rounds; ++i) {
                    const std::string k = "k" + std::to_string(t) + "-" + std::to_string(i);
                    // Pipelined: a SET of the client's own key, an INCR-like shared write, a GET.
                    const std::string batch = kv::encode_request({"SET", k, k + "v"}) +
                                              kv::encode_request({"SET", "shared", k}) +
                                              kv::encode_request({"GET", k});
                    if (!c.send(batch) || c.line() != "OK" || c.line() != "OK" ||
                        c.line() != k + "v") {
                        ++bad;
                        return;
                    }
                }
            });
        }
        for (std::thread& th : ts) {
            th.join();
        }
        return bad.load();
    };
    if (virtual_path) {
        cotrait::adapter<kv::storage, kv::memory_store&> virt(mem);
        kv::storage& store = virt;
        kvtest::running_server<kv::storage> srv(store, threads);
        CHECK(load(srv.port()) == 0);
        srv.stop();
        CHECK(srv->requests() == std::size_t{clients} * rounds * 3);
        CHECK(srv->errors() == 0);
    } else {
        kvtest::running_server<kv::memory_store> srv(mem, threads);
        CHECK(load(srv.port()) == 0);
        srv.stop();
        CHECK(srv->requests() == std::size_t{clients} * rounds * 3);
    }
    const auto snap = mem.snapshot();
    CHECK(snap.size() == std::size_t{clients} * rounds + 1);
    CHECK(snap.at("k3-7") == "k3-7v");
}

TEST_CASE("kv_server: --stats needs the virtual storage; --threads 2 with --stats serves") {
    kvtest::temp_dir dir("stats_static");
    {
        kvtest::child s({"--stats", "--storage", "static"}, dir.path / "static.log");
        CHECK(s.port() == 0);
        CHECK(s.wait() == 2);
        CHECK(s.log().find("does not go with --storage static") != std::string::npos);
    }
    kvtest::child s({"--stats", "--threads", "2"}, dir.path / "threads.log");
    REQUIRE(s.port() != 0);
    {
        kvtest::conn a(s.port());
        kvtest::conn b(s.port());
        CHECK(a.request("SET k v") == "OK");
        CHECK(b.request("GET k") == "v");
    }
    CHECK(s.stop() == 0);
    CHECK(s.log().find("stopped after") != std::string::npos);
}
