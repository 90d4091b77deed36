// when_any: the first to complete wins, losers are asked to stop and awaited, the result says
// which won, the winner's exception propagates; variadic and range forms; a stress test.
#include "support/test_support.hpp"

#include <cotrait/async_event.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_any.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>

#include <atomic>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

namespace {

using cotrait_test::tracked;

// Completes when `e` is set, or with operation_cancelled when stop is requested (the stop sets
// `e` too, so the test needs no timer).
cotrait::boxed_task<int> wait_for(cotrait::async_event& e, std::stop_token stop, int value,
                                  std::atomic<int>* finished) {
    std::stop_callback cb(stop, [&e] { e.set(); });
    co_await e.wait();
    ++*finished;
    if (stop.stop_requested()) {
        throw cotrait::operation_cancelled{};
    }
    co_return value;
}

cotrait::boxed_task<int> immediate(int v) {
    co_return v;
}

cotrait::boxed_task<std::string> fail_now(const char* what) {
    throw std::runtime_error(what);
    co_return "";
}

} // namespace

TEST_CASE("when_any: a synchronously completing child wins and the result says which") {
    auto r = cotrait::sync_wait(cotrait::when_any(immediate(1), immediate(2)));
    CHECK(r.index == 0);
    CHECK(std::get<0>(r.value) == 1);
}

TEST_CASE("when_any: losers are asked to stop and awaited before the when_any completes") {
    cotrait::async_event a;
    cotrait::async_event b;
    cotrait::async_event c;
    std::atomic<int> finished{0};
    std::stop_source stop;
    cotrait::async_scope scope;
    std::size_t winner = 99;
    int value = 0;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        auto r = co_await cotrait::when_any(stop, wait_for(a, stop.get_token(), 10, &finished),
                                            wait_for(b, stop.get_token(), 20, &finished),
                                            wait_for(c, stop.get_token(), 30, &finished));
        // Every child has finished by now.
        CHECK(finished == 3);
        winner = r.index;
        value = std::get<1>(r.value);
    });
    CHECK(finished == 0);
    b.set();
    CHECK(stop.stop_requested());
    CHECK(winner == 1);
    CHECK(value == 20);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("when_any: the winner's exception propagates; losers' results are dropped") {
    cotrait::async_event never;
    std::atomic<int> finished{0};
    std::stop_source stop;
    auto body = [&]() -> cotrait::boxed_task<> {
        co_await cotrait::when_any(stop, fail_now("boom"),
                                   wait_for(never, stop.get_token(), 1, &finished));
    };
    CHECK_THROWS_WITH(cotrait::sync_wait(body()), "boom");
    CHECK(finished == 1); // the loser was stopped and awaited
}

TEST_CASE("when_any: a loser's exception does not replace the winner's result") {
    auto r = cotrait::sync_wait(cotrait::when_any(immediate(5), fail_now("late")));
    CHECK(r.index == 0);
    CHECK(std::get<0>(r.value) == 5);
}

TEST_CASE("when_any: void and reference results") {
    int x = 3;
    auto ref = [&]() -> cotrait::static_task<int&> { co_return x; };
    auto nothing = []() -> cotrait::boxed_task<> { co_return; };
    auto r = cotrait::sync_wait(cotrait::when_any(ref(), nothing()));
    REQUIRE(r.index == 0);
    std::get<0>(r.value).get() = 4;
    CHECK(x == 4);
    auto v = cotrait::sync_wait(cotrait::when_any(nothing(), ref()));
    CHECK(v.index == 0);
    CHECK(std::holds_alternative<cotrait::void_result>(v.value));
}

TEST_CASE("when_any range: winner index and value; empty range is rejected") {
    cotrait::async_event go;
    std::atomic<int> finished{0};
    std::stop_source stop;
    std::vector<cotrait::boxed_task<int>> tasks;
    for (int i = 0; i < 5; ++i) {
        tasks.push_back(wait_for(go, stop.get_token(), i * 100, &finished));
    }
    cotrait::async_event winner_event;
    tasks.push_back(wait_for(winner_event, stop.get_token(), 777, &finished));
    cotrait::async_scope scope;
    std::size_t idx = 0;
    int val = 0;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        auto r = co_await cotrait::when_any(stop, std::move(tasks));
        idx = r.index;
        val = r.value;
    });
    winner_event.set();
    cotrait::sync_wait(scope.join());
    CHECK(idx == 5);
    CHECK(val == 777);
    CHECK(finished == 6);

    std::vector<cotrait::boxed_task<int>> none;
    CHECK_THROWS_AS(cotrait::when_any(std::move(none)), std::invalid_argument);
}

TEST_CASE("when_any: child frames and arguments are freed whether or not it was awaited") {
    tracked::alive = 0;
    auto t = [](tracked) -> cotrait::boxed_task<int> { co_return 1; };
    {
        auto w = cotrait::when_any(t(tracked{}), t(tracked{}));
        CHECK(tracked::alive == 2);
    }
    CHECK(tracked::alive == 0);
    {
        auto r = cotrait::sync_wait(cotrait::when_any(t(tracked{}), t(tracked{})));
        CHECK(r.index == 0);
    }
    CHECK(tracked::alive == 0);
}

TEST_CASE("when_any stress: children racing on a pool, exactly one winner, all awaited") {
    cotrait::thread_pool pool(4);
    for (int round = 0; round < 300; ++round) {
        std::atomic<int> finished{0};
        std::stop_source stop;
        auto child = [&](int id) -> cotrait::boxed_task<int> {
            co_await pool.schedule();
            ++finished;
            co_return id;
        };
        auto r =
            cotrait::sync_wait(cotrait::when_any(stop, child(0), child(1), child(2), child(3)));
        REQUIRE(r.index < 4);
        REQUIRE(static_cast<std::size_t>(std::visit([](int v) { return v; }, r.value)) == r.index);
        REQUIRE(finished == 4);
        REQUIRE(stop.stop_requested());
    }
}
