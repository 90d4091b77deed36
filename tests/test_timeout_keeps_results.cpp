// with_timeout never throws away a result the operation produced when the operation was handed a
// stop token: a value received from a channel, a permit acquired, a late answer. (The token-less
// form reports the deadline and drops a late result; test_timer.cpp covers it.)
#include <cotrait/async_semaphore.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("with_timeout: an operation that completes after the deadline keeps its result") {
    // The operation is handed the token but cannot stop (it is past the point of no return): the
    // deadline asks it to stop, it completes anyway, and its result is what with_timeout yields.
    cotrait::run_loop loop;
    int seen_stop = 0;
    auto finishing = [&](std::stop_token t) -> cotrait::boxed_task<int> {
        co_await cotrait::sleep_for(loop, 30ms);
        seen_stop = t.stop_requested() ? 1 : 0;
        co_return 7;
    };
    const auto start = std::chrono::steady_clock::now();
    CHECK(loop.run(cotrait::with_timeout(loop, 1ms, finishing)) == 7);
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);
    CHECK(seen_stop == 1); // the deadline did pass first and asked it to stop

    std::stop_source src;
    CHECK(loop.run(cotrait::with_timeout(loop, 1ms, src, finishing(src.get_token()))) == 7);
}

TEST_CASE("with_timeout: an operation that fails after the deadline is reported as timed_out") {
    cotrait::run_loop loop;
    auto failing_late = [&](std::stop_token) -> cotrait::boxed_task<int> {
        co_await cotrait::sleep_for(loop, 20ms);
        throw std::runtime_error("late failure");
    };
    CHECK_THROWS_AS(loop.run(cotrait::with_timeout(loop, 1ms, failing_late)), cotrait::timed_out);
}

TEST_CASE("with_timeout around a channel receive: no value is ever lost to a deadline") {
    // A receive that is handed a value just as its deadline passes completes with the value (its
    // stop came too late); with_timeout used to report timed_out and drop it. Deadlines here are
    // short enough that about every receive races with one.
    constexpr int n = 3000;
    cotrait::thread_pool pool(2);
    cotrait::channel<int> ch(4);
    std::thread producer([&] {
        cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
            for (int i = 1; i <= n; ++i) {
                co_await pool.schedule(); // each send from a pool thread, racing the receiver
                co_await ch.send(i);
            }
            ch.close();
        }());
    });
    long long sum = 0;
    int received = 0;
    int timeouts = 0;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        for (;;) {
            std::optional<int> v;
            try {
                // Named first: GCC 12 mishandles class prvalues passed to a call inside a
                // co_await operand (see design.md).
                auto bounded = cotrait::with_timeout(
                    pool, 5us, [&](std::stop_token t) { return ch.receive(std::move(t)); });
                v = co_await std::move(bounded);
            } catch (const cotrait::timed_out&) {
                ++timeouts;
                continue;
            }
            if (!v) {
                break; // closed and drained
            }
            ++received;
            sum += *v;
        }
    }());
    producer.join();
    INFO(timeouts << " receives timed out");
    CHECK(received == n);
    CHECK(sum == static_cast<long long>(n) * (n + 1) / 2);
}

TEST_CASE("with_timeout around a semaphore acquire: a permit granted at the deadline is kept") {
    // With the token-aware form an acquire that completes is never undone by the deadline, so the
    // permits always add up: each loop iteration either holds one (and releases it) or timed out.
    constexpr int rounds = 2000;
    cotrait::thread_pool pool(2);
    cotrait::async_semaphore sem(0);
    std::atomic<bool> done{false};
    std::thread releaser([&] {
        for (int i = 0; i < rounds; ++i) {
            sem.release();
            // A few microseconds apart, so that grants race with the acquirer's deadlines (a
            // spin, not a yield: under load a yield can cost a whole time slice).
            const auto until = std::chrono::steady_clock::now() + 3us;
            while (std::chrono::steady_clock::now() < until) {
            }
        }
        done = true;
    });
    int acquired = 0;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        while (acquired < rounds) {
            try {
                auto bounded = cotrait::with_timeout(
                    pool, 5us, [&](std::stop_token t) { return sem.acquire(std::move(t)); });
                co_await std::move(bounded);
                ++acquired; // a permit is ours; keep it, so the count says how many we got
            } catch (const cotrait::timed_out&) {
                if (done && sem.available() == 0) {
                    break; // every permit was released and none is left: some were lost
                }
            }
        }
    }());
    releaser.join();
    CHECK(acquired == rounds);
    CHECK(sem.available() == 0);
}
