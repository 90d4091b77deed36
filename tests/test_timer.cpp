// Timers without asio: sleep_for / sleep_until on run_loop and thread_pool, cancellation by stop
// token, the timer service's shutdown, with_timeout, and a bounded stress test.
#include <cotrait/async_event.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

TEST_CASE("sleep_for on a run_loop waits at least the duration and continues on the loop") {
    cotrait::run_loop loop;
    const auto start = steady::now();
    const bool on_loop = loop.run([&]() -> cotrait::boxed_task<bool> {
        co_await cotrait::sleep_for(loop, 20ms);
        co_return loop.running_in_this_thread();
    }());
    CHECK(on_loop);
    CHECK(steady::now() - start >= 20ms);
}

TEST_CASE("sleep_for on a thread_pool continues on a pool thread") {
    cotrait::thread_pool pool(2);
    const auto start = steady::now();
    const bool on_pool = cotrait::sync_wait([&]() -> cotrait::boxed_task<bool> {
        co_await cotrait::sleep_for(pool, 5ms);
        co_return pool.running_in_this_thread();
    }());
    CHECK(on_pool);
    CHECK(steady::now() - start >= 5ms);
}

TEST_CASE("sleepers wake in deadline order; a zero or negative duration still goes through ex") {
    cotrait::run_loop loop;
    cotrait::async_scope scope;
    std::vector<int> order;
    auto sleeper = [&](int ms) -> cotrait::boxed_task<> {
        co_await cotrait::sleep_for(loop, std::chrono::milliseconds(ms));
        order.push_back(ms);
    };
    loop.run([&]() -> cotrait::boxed_task<> {
        scope.spawn(sleeper(30));
        scope.spawn(sleeper(10));
        scope.spawn(sleeper(20));
        scope.spawn(sleeper(0));
        scope.spawn(sleeper(-5));
        CHECK(order.empty()); // even the zero sleeps were queued, not run inline
        co_await scope.join();
    }());
    CHECK(order == std::vector<int>{0, -5, 10, 20, 30});
}

TEST_CASE("sleep_for is cancelled promptly by a stop request from another thread") {
    cotrait::thread_pool pool(2);
    std::stop_source stop;
    const auto start = steady::now();
    std::jthread stopper([&] {
        std::this_thread::sleep_for(20ms); // the stop must come while the sleep is pending
        stop.request_stop();
    });
    CHECK_THROWS_AS(cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
                        co_await cotrait::sleep_for(pool, 1h, stop.get_token());
                    }()),
                    cotrait::operation_cancelled);
    CHECK(steady::now() - start < 30s);
    CHECK(cotrait::default_timer_service().pending() == 0);
}

TEST_CASE("sleep_for with stop already requested throws without suspending") {
    cotrait::run_loop loop;
    std::stop_source stop;
    stop.request_stop();
    bool threw = false;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        try {
            co_await cotrait::sleep_for(loop, 1h, stop.get_token());
        } catch (const cotrait::operation_cancelled&) {
            threw = true;
        }
    }()); // completes with nobody running the loop: it never suspended
    CHECK(threw);
}

TEST_CASE("a stop after the deadline fired is ignored") {
    cotrait::run_loop loop;
    std::stop_source stop;
    const bool ok = loop.run([&]() -> cotrait::boxed_task<bool> {
        co_await cotrait::sleep_for(loop, 1ms, stop.get_token());
        stop.request_stop();
        co_return true;
    }());
    CHECK(ok);
}

TEST_CASE("destroying a timer_service hands pending sleepers to their executor, cancelled") {
    cotrait::run_loop loop;
    cotrait::async_scope scope;
    std::optional<cotrait::timer_service> timers(std::in_place);
    int cancelled = 0;
    for (int i = 0; i < 3; ++i) {
        scope.spawn([&]() -> cotrait::boxed_task<> {
            try {
                co_await timers->sleep_for(loop, 1h);
            } catch (const cotrait::operation_cancelled&) {
                ++cancelled;
            }
        });
    }
    CHECK(timers->pending() == 3);
    timers.reset();
    CHECK(cancelled == 0); // queued on the loop, not run on the destroying thread's stack
    loop.run(scope.join());
    CHECK(cancelled == 3);
}

TEST_CASE("sleep_for on a pool that has shut down throws operation_cancelled") {
    cotrait::thread_pool pool(1);
    pool.shutdown();
    CHECK_THROWS_AS(cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
                        co_await cotrait::sleep_for(pool, 1ms);
                    }()),
                    cotrait::operation_cancelled);
}

namespace {
// Finishes when `go` is set, or with operation_cancelled when `stop` is requested (which sets it).
cotrait::boxed_task<int> slow(cotrait::async_event& go, std::stop_token stop, int* stopped) {
    std::stop_callback cb(stop, [&go] { go.set(); });
    co_await go.wait();
    if (stop.stop_requested()) {
        ++*stopped;
        throw cotrait::operation_cancelled{};
    }
    co_return 7;
}
} // namespace

TEST_CASE("with_timeout: the result when the operation is first") {
    cotrait::run_loop loop;
    const int v = loop.run(cotrait::with_timeout(loop, 1h, [](std::stop_token) {
        return []() -> cotrait::boxed_task<int> { co_return 5; }();
    }));
    CHECK(v == 5);
    CHECK(cotrait::default_timer_service().pending() == 0); // the timer was cancelled
}

TEST_CASE("with_timeout: timed_out when the deadline is first; the operation was stopped") {
    cotrait::run_loop loop;
    cotrait::async_event never;
    int stopped = 0;
    const auto start = steady::now();
    CHECK_THROWS_AS(loop.run(cotrait::with_timeout(
                        loop, 20ms, [&](std::stop_token t) { return slow(never, t, &stopped); })),
                    cotrait::timed_out);
    CHECK(stopped == 1); // asked to stop, and awaited before with_timeout completed
    CHECK(steady::now() - start >= 20ms);
}

TEST_CASE("with_timeout: explicit stop source, exceptions, void, and an operation ignoring stop") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    auto failing = [&]() -> cotrait::boxed_task<int> {
        co_await pool.schedule();
        throw std::runtime_error("failed first");
    };
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::with_timeout(pool, 1h, src, failing())),
                      "failed first");
    auto nothing = [&]() -> cotrait::boxed_task<> { co_await pool.schedule(); };
    cotrait::sync_wait(cotrait::with_timeout(pool, 1h, nothing()));
    // Cannot be interrupted: waited for, then reported as timed out.
    auto deaf = [&]() -> cotrait::boxed_task<int> {
        co_await cotrait::sleep_for(pool, 30ms);
        co_return 1;
    };
    CHECK_THROWS_AS(cotrait::sync_wait(cotrait::with_timeout(pool, 1ms, deaf())),
                    cotrait::timed_out);
}

TEST_CASE("timer stress: many sleepers on a pool, half cancelled while pending, all accounted") {
    constexpr int n = 400;
    cotrait::thread_pool pool(4);
    std::vector<std::stop_source> stops(n);
    std::atomic<int> completed{0};
    std::atomic<int> cancelled{0};
    std::atomic<int> registered{0};
    cotrait::async_scope scope;
    for (int i = 0; i < n; ++i) {
        scope.spawn([&, i]() -> cotrait::boxed_task<> {
            co_await pool.schedule();
            ++registered;
            // Cancelled ones sleep "forever": only their stop can finish them.
            const auto d = (i % 2 == 0) ? std::chrono::microseconds(i * 10)
                                        : std::chrono::microseconds(std::chrono::hours(1));
            try {
                co_await cotrait::sleep_for(pool, d,
                                            stops[static_cast<std::size_t>(i)].get_token());
                ++completed;
            } catch (const cotrait::operation_cancelled&) {
                ++cancelled;
            }
        });
    }
    for (int i = 1; i < n; i += 2) {
        stops[static_cast<std::size_t>(i)].request_stop(); // races with the registration
    }
    cotrait::sync_wait(scope.join());
    CHECK(completed == n / 2);
    CHECK(cancelled == n / 2);
    CHECK(cotrait::default_timer_service().pending() == 0);
}

TEST_CASE("a 'forever' sleep (hours::max()) neither overflows nor fires, and stop ends it") {
    cotrait::run_loop loop;
    std::stop_source stop;
    cotrait::async_scope scope;
    bool cancelled = false;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        try {
            co_await cotrait::sleep_for(loop, std::chrono::hours::max(), stop.get_token());
        } catch (const cotrait::operation_cancelled&) {
            cancelled = true;
        }
    });
    CHECK(cotrait::default_timer_service().pending() == 1);
    stop.request_stop();
    loop.run(scope.join());
    CHECK(cancelled);
}

TEST_CASE("with_timeout: a stop requested by the caller first ends it with operation_cancelled") {
    cotrait::run_loop loop;
    cotrait::async_event never;
    int stopped = 0;
    std::stop_source src;
    cotrait::async_scope scope;
    bool cancelled = false;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        auto op = slow(never, src.get_token(), &stopped);
        try {
            (void)co_await cotrait::with_timeout(loop, std::chrono::hours(1), src, std::move(op));
        } catch (const cotrait::operation_cancelled&) {
            cancelled = true;
        }
    });
    src.request_stop();
    loop.run(scope.join());
    CHECK(cancelled);
    CHECK(stopped == 1);
    CHECK(cotrait::default_timer_service().pending() == 0);
}
