// Bounded stress tests (iteration counts, no sleeps) for races between cancellation, completion
// and shutdown in the service primitives; meant to be run under ThreadSanitizer too.
#include <cotrait/async_event.hpp>
#include <cotrait/async_mutex.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>
#include <cotrait/when_any.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("race review: stop requests racing with timers firing; each sleep ends exactly once") {
    constexpr int sleepers = 300;
    cotrait::thread_pool pool(2);
    std::vector<std::stop_source> stops(sleepers);
    std::atomic<int> woke{0};
    std::atomic<int> cancelled{0};
    cotrait::async_scope scope;
    {
        cotrait::timer_service timers;
        for (int i = 0; i < sleepers; ++i) {
            scope.spawn([&, i]() -> cotrait::boxed_task<> {
                co_await pool.schedule();
                try {
                    // Deadlines spread over ~1 ms so that the stops below land on both sides.
                    co_await timers.sleep_for(pool, std::chrono::microseconds(i * 3),
                                              stops[static_cast<std::size_t>(i)].get_token());
                    ++woke;
                } catch (const cotrait::operation_cancelled&) {
                    ++cancelled;
                }
            });
        }
        std::thread stopper([&] {
            for (std::stop_source& s : stops) {
                s.request_stop();
            }
        });
        stopper.join();
        cotrait::sync_wait(scope.join());
    } // the service goes away with the stop callbacks of fired sleepers already disarmed
    CHECK(woke + cancelled == sleepers);
}

TEST_CASE("race review: close races with senders and receivers; nothing lost or duplicated") {
    constexpr int rounds = 20;
    constexpr int producers = 3;
    constexpr int per_producer = 200;
    cotrait::thread_pool pool(3);
    for (int round = 0; round < rounds; ++round) {
        cotrait::channel<int> ch(4);
        std::vector<std::atomic<int>> seen(producers * per_producer);
        std::atomic<int> delivered{0};
        std::atomic<int> refused{0};
        cotrait::async_scope scope;
        for (int p = 0; p < producers; ++p) {
            scope.spawn([&, p]() -> cotrait::boxed_task<> {
                co_await pool.schedule();
                for (int i = 0; i < per_producer; ++i) {
                    try {
                        co_await ch.send(p * per_producer + i);
                        ++delivered;
                    } catch (const cotrait::channel_closed&) {
                        ++refused;
                    }
                }
            });
        }
        for (int c = 0; c < 2; ++c) {
            scope.spawn([&]() -> cotrait::boxed_task<> {
                co_await pool.schedule();
                while (std::optional<int> v = co_await ch.receive()) {
                    seen[static_cast<std::size_t>(*v)].fetch_add(1);
                }
            });
        }
        // Close at a different point of the traffic each round. Counted in values sent, not in
        // yields: on a loaded machine each yield can cost a whole time slice (a fixed count of
        // 50 per round took over 30 s under ASan with other builds running).
        while (delivered.load() + refused.load() < round * (producers * per_producer / rounds)) {
            std::this_thread::yield();
        }
        ch.close();
        cotrait::sync_wait(scope.join());
        int received = 0;
        bool no_duplicate = true;
        for (std::atomic<int>& s : seen) {
            received += s.load();
            no_duplicate = no_duplicate && s.load() <= 1;
        }
        CHECK(no_duplicate);
        CHECK(received == delivered.load()); // every send that returned was received
        CHECK(delivered + refused == producers * per_producer);
    }
}

TEST_CASE("race review: when_any of cancellable waits, released while losers are stopped") {
    constexpr int rounds = 300;
    cotrait::thread_pool pool(2);
    for (int round = 0; round < rounds; ++round) {
        cotrait::async_event a(cotrait::reset_mode::automatic);
        cotrait::async_event b(cotrait::reset_mode::manual);
        cotrait::async_mutex m;
        REQUIRE(m.try_lock());
        std::stop_source stop;
        std::size_t winner = 99;
        cotrait::async_scope scope;
        scope.spawn([&]() -> cotrait::boxed_task<> {
            co_await pool.schedule();
            auto r =
                co_await cotrait::when_any(stop, a.wait(stop.get_token()), b.wait(stop.get_token()),
                                           m.scoped_lock(stop.get_token()));
            winner = r.index; // a guard won (or granted to a loser) is dropped with `r`
        });
        std::thread t1([&] { a.set(); });
        std::thread t2([&] { b.set(); });
        m.unlock();
        t1.join();
        t2.join();
        cotrait::sync_wait(scope.join());
        CHECK(winner < 3);
        CHECK(b.is_set());
        CHECK(m.try_lock()); // whoever got the lock, winner or loser, gave it back
        m.unlock();
    }
}
