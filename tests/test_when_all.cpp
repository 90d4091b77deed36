// when_all: variadic and range forms, results, void, references, exceptions, and children that
// finish on pool threads.
#include "support/test_support.hpp"

#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using cotrait_test::tracked;

cotrait::boxed_task<int> value(int v) {
    co_return v;
}
cotrait::static_task<std::string> text(std::string s) {
    co_return s;
}
cotrait::boxed_task<> nothing(std::atomic<int>& counter) {
    ++counter;
    co_return;
}
cotrait::boxed_task<int> fail_with(std::string what, tracked /*param*/) {
    throw std::runtime_error(what);
    co_return 0;
}
cotrait::boxed_task<> fail_void(std::string what, tracked /*param*/) {
    throw std::runtime_error(what);
    co_return;
}

cotrait::boxed_task<int> on_pool(cotrait::thread_pool& pool, int v, tracked /*param*/) {
    co_await pool.schedule();
    co_return v;
}

cotrait::boxed_task<int> throw_on_pool(cotrait::thread_pool& pool, std::string what) {
    co_await pool.schedule();
    throw std::runtime_error(what);
}

} // namespace

TEST_CASE("when_all of heterogeneous tasks yields a tuple in argument order") {
    std::atomic<int> counter{0};
    auto r = cotrait::sync_wait(cotrait::when_all(value(1), text("two"), nothing(counter)));
    static_assert(std::is_same_v<decltype(r), std::tuple<int, std::string, cotrait::void_result>>);
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r) == "two");
    CHECK(counter == 1);
}

TEST_CASE("when_all with no arguments completes with an empty tuple") {
    auto r = cotrait::sync_wait(cotrait::when_all());
    static_assert(std::is_same_v<decltype(r), std::tuple<>>);
}

TEST_CASE("when_all keeps reference results as references") {
    int x = 5;
    auto ref = [](int& v) -> cotrait::boxed_task<int&> { co_return v; };
    auto r = cotrait::sync_wait(cotrait::when_all(ref(x), value(2)));
    static_assert(std::is_same_v<std::tuple_element_t<0, decltype(r)>, int&>);
    std::get<0>(r) = 7;
    CHECK(x == 7);
}

TEST_CASE("when_all inside a coroutine, nested") {
    auto outer = []() -> cotrait::boxed_task<int> {
        auto [a, b] = co_await cotrait::when_all(value(20), value(22));
        auto [c] = co_await cotrait::when_all(cotrait::when_all(value(1)));
        co_return a + b + std::get<0>(c);
    };
    CHECK(cotrait::sync_wait(outer()) == 43);
}

TEST_CASE("when_all rethrows the first exception after every child has finished") {
    tracked::alive = 0;
    std::atomic<int> counter{0};
    {
        auto w = cotrait::when_all(value(1), fail_with("boom", tracked{}), nothing(counter),
                                   fail_with("second", tracked{}));
        CHECK(tracked::alive == 2); // one parameter per failing child's frame
        CHECK_THROWS_WITH(cotrait::sync_wait(std::move(w)), "boom");
        CHECK(counter == 1); // the sibling after the failure still ran
    }
    CHECK(tracked::alive == 0);
}

TEST_CASE("when_all of void tasks rethrows a void child's exception") {
    // A void child has no value to take, so its failure must be looked for explicitly.
    tracked::alive = 0;
    std::atomic<int> counter{0};
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(
                          nothing(counter), fail_void("void boom", tracked{}), nothing(counter))),
                      "void boom");
    CHECK(counter == 2);
    CHECK(tracked::alive == 0);

    auto ok = cotrait::sync_wait(cotrait::when_all(nothing(counter), nothing(counter)));
    CHECK(ok == std::tuple{cotrait::void_result{}, cotrait::void_result{}});
    CHECK(counter == 4);
}

TEST_CASE("when_all frees every child frame, also on failure") {
    tracked::alive = 0;
    {
        cotrait::thread_pool pool(2);
        {
            auto w = cotrait::when_all(on_pool(pool, 1, tracked{}), on_pool(pool, 2, tracked{}),
                                       fail_with("x", tracked{}));
            CHECK(tracked::alive == 3);
            CHECK_THROWS_AS(cotrait::sync_wait(std::move(w)), std::runtime_error);
        }
        CHECK(tracked::alive == 0);
        // Never awaited: the children are destroyed without starting.
        {
            auto w = cotrait::when_all(on_pool(pool, 1, tracked{}), value(3));
            CHECK(tracked::alive == 1);
        }
        CHECK(tracked::alive == 0);
    }
}

TEST_CASE("when_all children that complete on pool threads") {
    tracked::alive = 0;
    cotrait::thread_pool pool(3);
    for (int round = 0; round < 100; ++round) {
        auto [a, b, c, d] = cotrait::sync_wait(
            cotrait::when_all(on_pool(pool, 1, tracked{}), on_pool(pool, 2, tracked{}), value(3),
                              on_pool(pool, 4, tracked{})));
        REQUIRE(a + b + c + d == 10);
    }
    CHECK(tracked::alive == 0);
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(on_pool(pool, 1, tracked{}),
                                                           throw_on_pool(pool, "pool failure"))),
                      "pool failure");
    CHECK(tracked::alive == 0);
}

TEST_CASE("when_all over a vector of tasks yields a vector in order") {
    cotrait::thread_pool pool(2);
    std::vector<cotrait::boxed_task<int>> tasks;
    for (int i = 0; i < 50; ++i) {
        tasks.push_back(i % 2 == 0 ? on_pool(pool, i, tracked{}) : value(i));
    }
    std::vector<int> r = cotrait::sync_wait(cotrait::when_all(std::move(tasks)));
    REQUIRE(r.size() == 50);
    for (int i = 0; i < 50; ++i) {
        CHECK(r[static_cast<std::size_t>(i)] == i);
    }
}

TEST_CASE("when_all over a range of void tasks, empty ranges, and failures") {
    std::atomic<int> counter{0};
    std::vector<cotrait::boxed_task<>> tasks;
    for (int i = 0; i < 10; ++i) {
        tasks.push_back(nothing(counter));
    }
    cotrait::sync_wait(cotrait::when_all(std::move(tasks)));
    static_assert(std::is_void_v<decltype(cotrait::sync_wait(
                      cotrait::when_all(std::vector<cotrait::boxed_task<>>{})))>);
    CHECK(counter == 10);

    auto empty = cotrait::sync_wait(cotrait::when_all(std::vector<cotrait::boxed_task<int>>{}));
    CHECK(empty.empty());

    tracked::alive = 0;
    std::vector<cotrait::boxed_task<int>> failing;
    failing.push_back(value(1));
    failing.push_back(fail_with("range failure", tracked{}));
    failing.push_back(value(3));
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(std::move(failing))), "range failure");
    CHECK(tracked::alive == 0);
}

TEST_CASE("when_all over a range of void tasks rethrows a failing child's exception") {
    // The void range form returns nothing, so skipping the failure check there would be silent.
    tracked::alive = 0;
    std::atomic<int> counter{0};
    std::vector<cotrait::boxed_task<>> tasks;
    tasks.push_back(nothing(counter));
    tasks.push_back(fail_void("void range failure", tracked{}));
    tasks.push_back(nothing(counter));
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(std::move(tasks))),
                      "void range failure");
    CHECK(counter == 2); // the siblings still ran
    CHECK(tracked::alive == 0);

    // The same when the failure happens on a pool thread, after the parent suspended.
    cotrait::thread_pool pool(2);
    std::vector<cotrait::boxed_task<>> on_threads;
    on_threads.push_back(nothing(counter));
    on_threads.push_back([](cotrait::thread_pool& p) -> cotrait::boxed_task<> {
        co_await p.schedule();
        throw std::runtime_error("void failure on the pool");
    }(pool));
    CHECK_THROWS_WITH(cotrait::sync_wait(cotrait::when_all(std::move(on_threads))),
                      "void failure on the pool");
}

TEST_CASE("when_all over a range of reference results") {
    int a = 1;
    int b = 2;
    auto ref = [](int& v) -> cotrait::boxed_task<int&> { co_return v; };
    std::vector<cotrait::boxed_task<int&>> tasks;
    tasks.push_back(ref(a));
    tasks.push_back(ref(b));
    auto r = cotrait::sync_wait(cotrait::when_all(std::move(tasks)));
    r[1].get() = 20;
    CHECK(b == 20);
}

TEST_CASE("a when_all can be spawned into an async_scope before it is awaited") {
    cotrait::thread_pool pool(2);
    std::atomic<int> counter{0};
    cotrait::async_scope scope;
    scope.spawn(cotrait::when_all(nothing(counter), nothing(counter), on_pool(pool, 1, {})));
    cotrait::sync_wait(scope.join());
    CHECK(counter == 2);
}

TEST_CASE("awaiting a task twice through when_all reports misuse") {
    auto t = value(1);
    auto twice = [](cotrait::boxed_task<int>& task) -> cotrait::boxed_task<int> {
        co_await task;
        co_return co_await task; // second await: task_misuse
    };
    std::vector<cotrait::boxed_task<int>> tasks;
    tasks.push_back(twice(t));
    CHECK_THROWS_AS(cotrait::sync_wait(cotrait::when_all(std::move(tasks))), cotrait::task_misuse);
}
