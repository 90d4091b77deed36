// async_scope: spawned tasks are owned, joined, and their exceptions are reported by join().
#include "support/test_support.hpp"

#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <coroutine>
#include <deque>
#include <exception>
#include <stdexcept>
#include <thread>

namespace {

using cotrait_test::tracked;

cotrait::boxed_task<> count_on(cotrait::thread_pool& pool, std::atomic<int>& n, tracked /*p*/) {
    co_await pool.schedule();
    ++n;
}

cotrait::boxed_task<int> fail_on(cotrait::thread_pool& pool, const char* what) {
    co_await pool.schedule();
    throw std::runtime_error(what);
}

// A plain run queue drained one coroutine at a time by the test thread.
struct manual_queue {
    std::deque<std::coroutine_handle<>> ready;
    struct later {
        manual_queue* q;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) const { q->ready.push_back(h); }
        void await_resume() const noexcept {}
    };
    later next() { return later{this}; }
    void resume_one() {
        std::coroutine_handle<> h = ready.front();
        ready.pop_front();
        h.resume();
    }
};

// An eager coroutine that joins a scope and records that it got past the join.
struct eager {
    struct promise_type {
        eager get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

eager join_then_set(cotrait::async_scope& scope, bool& joined) {
    co_await scope.join();
    joined = true;
}

} // namespace

TEST_CASE("join with nothing spawned completes at once") {
    cotrait::async_scope scope;
    cotrait::sync_wait(scope.join());
    CHECK(scope.running() == 0);
}

TEST_CASE("spawn runs synchronously completing tasks inline") {
    cotrait::async_scope scope;
    int n = 0;
    scope.spawn([](int& x) -> cotrait::boxed_task<int> {
        ++x;
        co_return x;
    }(n));
    CHECK(n == 1); // already ran: spawn starts the task at once
    CHECK(scope.running() == 0);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("join waits for every task spawned onto a pool, and frees them") {
    tracked::alive = 0;
    std::atomic<int> n{0};
    {
        cotrait::thread_pool pool(2);
        cotrait::async_scope scope;
        for (int i = 0; i < 500; ++i) {
            scope.spawn(count_on(pool, n, tracked{}));
        }
        cotrait::sync_wait(scope.join());
        CHECK(n == 500);
        CHECK(scope.running() == 0);
        CHECK(tracked::alive == 0);
    }
}

TEST_CASE("the joiner resumes only after the last task, not before") {
    // Deterministic: every task waits on a queue the test drains one coroutine at a time.
    constexpr int tasks = 4;
    manual_queue q;
    cotrait::async_scope scope;
    int finished = 0;
    for (int i = 0; i < tasks; ++i) {
        scope.spawn([](manual_queue& mq, int& fin) -> cotrait::boxed_task<> {
            co_await mq.next();
            ++fin;
        }(q, finished));
    }
    REQUIRE(scope.running() == tasks);
    bool joined = false;
    join_then_set(scope, joined);
    CHECK_FALSE(joined);
    for (int i = 1; i <= tasks; ++i) {
        REQUIRE(q.ready.size() == static_cast<std::size_t>(tasks - i + 1));
        q.resume_one();
        INFO("after " << i << " of " << tasks << " tasks finished");
        CHECK(finished == i);
        CHECK(scope.running() == static_cast<std::size_t>(tasks - i));
        CHECK(joined == (i == tasks));
    }
}

TEST_CASE("join awaited from a coroutine, then the scope is reused") {
    cotrait::thread_pool pool(2);
    std::atomic<int> n{0};
    cotrait::async_scope scope;
    auto parent = [&]() -> cotrait::boxed_task<int> {
        for (int i = 0; i < 20; ++i) {
            scope.spawn(count_on(pool, n, {}));
        }
        co_await scope.join();
        const int first = n.load();
        for (int i = 0; i < 20; ++i) {
            scope.spawn(count_on(pool, n, {}));
        }
        co_await scope.join();
        co_return first;
    };
    CHECK(cotrait::sync_wait(parent()) == 20);
    CHECK(n == 40);
}

TEST_CASE("join rethrows the first exception of a spawned task, once") {
    cotrait::thread_pool pool(2);
    cotrait::async_scope scope;
    std::atomic<int> n{0};
    scope.spawn(fail_on(pool, "first"));
    scope.spawn(count_on(pool, n, {}));
    CHECK_THROWS_WITH(cotrait::sync_wait(scope.join()), "first");
    CHECK(n == 1); // the other task still ran to completion before join returned
    CHECK_NOTHROW(cotrait::sync_wait(scope.join()));

    scope.spawn(fail_on(pool, "a"));
    scope.spawn(fail_on(pool, "b"));
    CHECK_THROWS_AS(cotrait::sync_wait(scope.join()), std::runtime_error);
    CHECK(scope.dropped_exceptions() == 1);
}

TEST_CASE("spawned tasks stop through the scope's token") {
    cotrait::thread_pool pool(1);
    cotrait::async_scope scope;
    std::atomic<int> stopped{0};
    for (int i = 0; i < 4; ++i) {
        scope.spawn([](cotrait::thread_pool& p, std::stop_token tok,
                       std::atomic<int>& s) -> cotrait::boxed_task<> {
            // Spins through the pool until told to stop: bounded by the test's request_stop.
            for (;;) {
                try {
                    co_await p.schedule(tok);
                } catch (const cotrait::operation_cancelled&) {
                    ++s;
                    co_return;
                }
            }
        }(pool, scope.get_token(), stopped));
    }
    scope.request_stop();
    cotrait::sync_wait(scope.join());
    CHECK(stopped == 4);
}

TEST_CASE("async_scope on a run_loop: everything runs on the loop's thread") {
    cotrait::run_loop loop;
    cotrait::async_scope scope;
    std::atomic<int> off_thread{0};
    const auto main_id = std::this_thread::get_id();
    auto body = [&]() -> cotrait::boxed_task<> {
        for (int i = 0; i < 10; ++i) {
            scope.spawn([](cotrait::run_loop& l, std::atomic<int>& off,
                           std::thread::id id) -> cotrait::boxed_task<> {
                co_await l.schedule();
                if (std::this_thread::get_id() != id) {
                    ++off;
                }
            }(loop, off_thread, main_id));
        }
        co_await scope.join();
    };
    loop.run(body());
    CHECK(off_thread == 0);
    CHECK(scope.running() == 0);
}
