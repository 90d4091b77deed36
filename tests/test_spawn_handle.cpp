// async_scope::spawn_with_handle (join handles) and spawn(callable) (the scope owns the callable).
#include "support/test_support.hpp"

#include <cotrait/async_event.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/task_error.hpp>
#include <cotrait/thread_pool.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
using cotrait_test::tracked;
}

TEST_CASE("spawn_with_handle: co_await yields the result of a task that already finished") {
    cotrait::async_scope scope;
    auto h = scope.spawn_with_handle([]() -> cotrait::boxed_task<int> { co_return 42; }());
    CHECK(h.valid());
    CHECK(h.done());
    CHECK(cotrait::sync_wait(std::move(h)) == 42);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("spawn_with_handle: awaiting before the task finishes suspends until it does") {
    cotrait::async_scope scope;
    cotrait::async_event go;
    auto h = scope.spawn_with_handle([&]() -> cotrait::boxed_task<std::string> {
        co_await go.wait();
        co_return std::string("done");
    });
    CHECK_FALSE(h.done());
    std::string got;
    scope.spawn([&]() -> cotrait::boxed_task<> { got = co_await h; });
    CHECK(got.empty());
    go.set();
    CHECK(got == "done");
    cotrait::sync_wait(scope.join());
}

TEST_CASE("spawn_with_handle: the task's exception goes to the handle, not to join()") {
    cotrait::async_scope scope;
    auto h = scope.spawn_with_handle([]() -> cotrait::boxed_task<int> {
        throw std::runtime_error("task failed");
        co_return 0;
    });
    cotrait::sync_wait(scope.join()); // does not throw
    CHECK_THROWS_WITH(cotrait::sync_wait(std::move(h)), "task failed");
}

TEST_CASE("spawn_with_handle: a handle dropped before completion sends the exception to join()") {
    cotrait::async_scope scope;
    cotrait::async_event go;
    {
        auto h = scope.spawn_with_handle([&]() -> cotrait::boxed_task<> {
            co_await go.wait();
            throw std::runtime_error("orphan");
        });
    }
    go.set();
    CHECK_THROWS_WITH(cotrait::sync_wait(scope.join()), "orphan");
}

TEST_CASE("spawn_with_handle: misuse of a handle is reported") {
    cotrait::async_scope scope;
    auto h = scope.spawn_with_handle([]() -> cotrait::boxed_task<int> { co_return 1; }());
    CHECK(cotrait::sync_wait(h) == 1);
    CHECK_THROWS_AS(cotrait::sync_wait(h), cotrait::task_misuse);
    auto moved = std::move(h); // the awaited state moves with the handle
    CHECK_THROWS_AS(cotrait::sync_wait(moved), cotrait::task_misuse);
    cotrait::join_handle<int> empty;
    CHECK_THROWS_AS(cotrait::sync_wait(empty), cotrait::task_misuse);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("spawn(callable): the scope keeps the callable and its captures alive") {
    tracked::alive = 0;
    cotrait::async_scope scope;
    cotrait::async_event go;
    int result = 0;
    {
        // The lambda object is a temporary: with spawn(lambda()) its captures would die here,
        // while the coroutine still reads them after the await below.
        auto big = std::make_shared<std::vector<int>>(1000, 1);
        scope.spawn([big, t = tracked{}, &go, &result]() -> cotrait::boxed_task<> {
            co_await go.wait();
            int sum = 0;
            for (int v : *big) {
                sum += v;
            }
            result = sum;
        });
    }
    CHECK(tracked::alive == 1); // owned by the scope's frame
    go.set();
    CHECK(result == 1000);
    CHECK(tracked::alive == 0); // freed when the task finished
    cotrait::sync_wait(scope.join());
}

TEST_CASE("spawn(callable): an exception from the callable itself goes to join()") {
    cotrait::async_scope scope;
    scope.spawn([]() -> cotrait::boxed_task<> {
        throw std::runtime_error("before the first suspension");
        co_return;
    });
    scope.spawn([]() -> cotrait::boxed_task<int> { throw std::logic_error("not a coroutine"); });
    CHECK_THROWS_WITH(cotrait::sync_wait(scope.join()), "before the first suspension");
    CHECK(scope.dropped_exceptions() == 1);
}

TEST_CASE("spawn_with_handle stress: results across pool threads, handles awaited and dropped") {
    cotrait::thread_pool pool(4);
    cotrait::async_scope scope;
    std::vector<cotrait::join_handle<int>> handles;
    std::atomic<int> ran{0};
    for (int i = 0; i < 2000; ++i) {
        auto h = scope.spawn_with_handle([&pool, &ran, i]() -> cotrait::boxed_task<int> {
            co_await pool.schedule();
            ++ran;
            co_return i;
        });
        if (i % 3 == 0) {
            h.detach(); // races with the task's completion on a pool thread
        } else {
            handles.push_back(std::move(h));
        }
    }
    long sum = 0;
    long expected = 0;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        for (auto& h : handles) {
            sum += co_await h;
        }
    }());
    for (int i = 0; i < 2000; ++i) {
        if (i % 3 != 0) {
            expected += i;
        }
    }
    cotrait::sync_wait(scope.join());
    CHECK(ran == 2000);
    CHECK(sum == expected);
}
