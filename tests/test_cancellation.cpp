// Cancellation: std::stop_token passed down by parameter, when_all stopping siblings on the first
// failure, linked sources carrying a parent's stop to children, and operation_cancelled.
#include "support/test_support.hpp"

#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

namespace {

// Works in steps on the pool until `steps` are done or stop is requested; returns the steps done.
// Each step re-enters the pool's queue, so a stop takes effect at the next step at the latest.
cotrait::boxed_task<int> worker(cotrait::thread_pool& pool, std::stop_token tok, int steps) {
    int done = 0;
    for (; done < steps; ++done) {
        co_await pool.schedule(tok);
    }
    co_return done;
}

// Like worker, but loops until stopped; every use below must end by cancellation. A stop that never
// arrives fails with a runtime_error after 10 s instead of hanging the test.
// `running`, if given, is opened once the task has completed a step on the pool: a test that stops
// it after that knows it stopped a running task, not one that had not started.
cotrait::boxed_task<int> until_stopped(cotrait::thread_pool& pool, std::stop_token tok,
                                       std::atomic<int>& cancelled,
                                       cotrait_test::gate* running = nullptr) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    try {
        for (;;) {
            co_await pool.schedule(tok);
            if (std::chrono::steady_clock::now() > give_up) {
                throw std::runtime_error("until_stopped: no stop request arrived");
            }
            if (running != nullptr) {
                std::exchange(running, nullptr)->open();
            }
        }
    } catch (const cotrait::operation_cancelled&) {
        ++cancelled;
        throw;
    }
}

cotrait::boxed_task<int> fail_after(cotrait::thread_pool& pool, int steps) {
    for (int i = 0; i < steps; ++i) {
        co_await pool.schedule();
    }
    throw std::runtime_error("child failed");
}

} // namespace

TEST_CASE("throw_if_cancelled checks a token") {
    std::stop_source src;
    CHECK_NOTHROW(cotrait::throw_if_cancelled(src.get_token()));
    src.request_stop();
    CHECK_THROWS_AS(cotrait::throw_if_cancelled(src.get_token()), cotrait::operation_cancelled);
    CHECK_NOTHROW(cotrait::throw_if_cancelled(std::stop_token{}));
}

TEST_CASE("a task not cancelled runs to completion") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    CHECK(cotrait::sync_wait(worker(pool, src.get_token(), 100)) == 100);
}

TEST_CASE("a task cancelled before it starts ends with operation_cancelled") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    auto t = worker(pool, src.get_token(), 100);
    src.request_stop();
    CHECK_THROWS_AS(cotrait::sync_wait(std::move(t)), cotrait::operation_cancelled);
}

TEST_CASE("a running task is cancelled from another thread") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    std::atomic<int> cancelled{0};
    cotrait_test::gate running;
    std::thread stopper([&] {
        running.wait(); // the task has run a step: this cancels it mid-way, not before it starts
        src.request_stop();
    });
    CHECK_THROWS_AS(cotrait::sync_wait(until_stopped(pool, src.get_token(), cancelled, &running)),
                    cotrait::operation_cancelled);
    stopper.join();
    CHECK(running.is_open());
    CHECK(cancelled == 1);
}

TEST_CASE("when_all with a stop source stops the siblings of the first failure") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    std::atomic<int> cancelled{0};
    // The failure, not the siblings' operation_cancelled, is what the caller sees.
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(
                          src, until_stopped(pool, src.get_token(), cancelled), fail_after(pool, 3),
                          until_stopped(pool, src.get_token(), cancelled))),
                      "child failed");
    CHECK(cancelled == 2);
    CHECK(src.stop_requested());
}

TEST_CASE("when_all over a range stops the siblings of the first failure") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    std::atomic<int> cancelled{0};
    std::vector<cotrait::boxed_task<int>> tasks;
    for (int i = 0; i < 5; ++i) {
        tasks.push_back(until_stopped(pool, src.get_token(), cancelled));
    }
    tasks.push_back(fail_after(pool, 2));
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(src, std::move(tasks))), "child failed");
    CHECK(cancelled == 5);
}

TEST_CASE("when_all without failures does not request stop") {
    cotrait::thread_pool pool(2);
    std::stop_source src;
    auto [a, b] = cotrait::sync_wait(
        cotrait::when_all(src, worker(pool, src.get_token(), 3), worker(pool, src.get_token(), 4)));
    CHECK(a == 3);
    CHECK(b == 4);
    CHECK_FALSE(src.stop_requested());
}

TEST_CASE("a parent's stop reaches when_all children through a linked_stop_source") {
    cotrait::thread_pool pool(2);
    std::stop_source parent_src;
    std::atomic<int> cancelled{0};
    cotrait_test::gate first_running;
    cotrait_test::gate second_running;
    auto parent = [&](std::stop_token tok) -> cotrait::boxed_task<int> {
        cotrait::linked_stop_source children(tok);
        auto [a, b] = co_await cotrait::when_all(
            children.source(), until_stopped(pool, children.get_token(), cancelled, &first_running),
            until_stopped(pool, children.get_token(), cancelled, &second_running));
        co_return a + b;
    };
    std::thread stopper([&] {
        // Both children are running inside the when_all: the stop must travel parent -> linked
        // source -> children while they run.
        first_running.wait();
        second_running.wait();
        parent_src.request_stop();
    });
    CHECK_THROWS_AS(cotrait::sync_wait(parent(parent_src.get_token())),
                    cotrait::operation_cancelled);
    stopper.join();
    CHECK(first_running.is_open());
    CHECK(second_running.is_open());
    CHECK(cancelled == 2);
}

TEST_CASE("a child failure stops siblings but not the parent's token") {
    cotrait::thread_pool pool(2);
    std::stop_source parent_src;
    std::atomic<int> cancelled{0};
    auto parent = [&](std::stop_token tok) -> cotrait::boxed_task<bool> {
        cotrait::linked_stop_source children(tok);
        try {
            co_await cotrait::when_all(children.source(),
                                       until_stopped(pool, children.get_token(), cancelled),
                                       fail_after(pool, 1));
        } catch (const std::runtime_error&) {
        }
        co_return tok.stop_requested();
    };
    CHECK_FALSE(cotrait::sync_wait(parent(parent_src.get_token())));
    CHECK(cancelled == 1);
}

TEST_CASE("linked_stop_source created under an already stopped parent starts stopped") {
    std::stop_source parent;
    parent.request_stop();
    cotrait::linked_stop_source child(parent.get_token());
    CHECK(child.stop_requested());
    std::stop_source other;
    cotrait::linked_stop_source child2(other.get_token());
    CHECK_FALSE(child2.stop_requested());
    child2.request_stop();
    CHECK(child2.stop_requested());
    CHECK_FALSE(other.stop_requested());
}
