// Review of with_timeout keeping a late result (detail::timeout_race): every kind of result, the
// token-less form, the caller's own stop, and a deadline side that fails instead of firing.
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/timer.hpp>

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <coroutine>
#include <memory>
#include <stdexcept>
#include <stop_token>

using namespace std::chrono_literals;

namespace {

// Counts live instances, so that a dropped result is seen to be destroyed (not leaked).
struct tracked {
    static inline int live = 0;
    int v;
    explicit tracked(int x) : v(x) { ++live; }
    tracked(tracked&& o) noexcept : v(o.v) { ++live; }
    tracked(const tracked&) = delete;
    tracked& operator=(const tracked&) = delete;
    tracked& operator=(tracked&&) = delete;
    ~tracked() { --live; }
};

// Neither copy- nor move-assignable (a const member), as many result types are.
struct fixed {
    const int v;
};

// An executor that refuses every coroutine, as one that shut down does: the sleep's co_await then
// reports operation_cancelled (the executor's own outcome) instead of the deadline.
struct refusing_executor {
    struct awaiter {
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> /*h*/) const noexcept { return false; }
        void await_resume() const { throw cotrait::operation_cancelled{}; }
    };
    awaiter schedule() const noexcept { return {}; }
};

} // namespace

TEST_CASE("timeout review: a late result of every kind is kept when the operation has the token") {
    cotrait::run_loop loop;
    std::stop_token seen;
    // Each operation ignores its token and completes well after the 1 ms deadline.
    SECTION("void") {
        bool ran = false;
        auto op = [&](std::stop_token t) -> cotrait::boxed_task<> {
            co_await cotrait::sleep_for(loop, 20ms);
            seen = t;
            ran = true;
        };
        loop.run(cotrait::with_timeout(loop, 1ms, op));
        CHECK(ran);
    }
    SECTION("lvalue reference: the same object, not a copy") {
        int storage = 3;
        auto op = [&](std::stop_token t) -> cotrait::boxed_task<int&> {
            co_await cotrait::sleep_for(loop, 20ms);
            seen = t;
            co_return storage;
        };
        int* got = nullptr;
        loop.run([&]() -> cotrait::boxed_task<> {
            auto timed = cotrait::with_timeout(loop, 1ms, op);
            int& r = co_await std::move(timed);
            got = &r;
        }());
        CHECK(got == &storage);
    }
    SECTION("move-only") {
        auto op = [&](std::stop_token t) -> cotrait::boxed_task<std::unique_ptr<int>> {
            co_await cotrait::sleep_for(loop, 20ms);
            seen = t;
            co_return std::make_unique<int>(9);
        };
        auto p = loop.run(cotrait::with_timeout(loop, 1ms, op));
        REQUIRE(p);
        CHECK(*p == 9);
    }
    SECTION("non-assignable") {
        auto op = [&](std::stop_token t) -> cotrait::boxed_task<fixed> {
            co_await cotrait::sleep_for(loop, 20ms);
            seen = t;
            co_return fixed{11};
        };
        CHECK(loop.run(cotrait::with_timeout(loop, 1ms, op)).v == 11);
        // And on time, through the winner's path.
        auto quick = [](std::stop_token) -> cotrait::boxed_task<fixed> { co_return fixed{12}; };
        CHECK(loop.run(cotrait::with_timeout(loop, 1h, quick)).v == 12);
    }
    SECTION("move-only, destroyed once, with an explicit stop source") {
        std::stop_source src;
        auto op = [&](std::stop_token t) -> cotrait::boxed_task<tracked> {
            co_await cotrait::sleep_for(loop, 20ms);
            seen = t;
            co_return tracked(5);
        };
        {
            auto r = loop.run(cotrait::with_timeout(loop, 1ms, src, op(src.get_token())));
            CHECK(r.v == 5);
            CHECK(tracked::live == 1);
        }
        CHECK(tracked::live == 0);
    }
    CHECK(seen.stop_requested()); // the deadline did pass first in every section
}

TEST_CASE("timeout review: the token-less form reports the deadline and destroys the result") {
    cotrait::run_loop loop;
    auto late = [&]() -> cotrait::boxed_task<tracked> {
        co_await cotrait::sleep_for(loop, 20ms);
        co_return tracked(1);
    };
    CHECK_THROWS_AS(loop.run(cotrait::with_timeout(loop, 1ms, late())), cotrait::timed_out);
    CHECK(tracked::live == 0);
    // On time it is the result.
    auto quick = []() -> cotrait::boxed_task<tracked> { co_return tracked(2); };
    CHECK(loop.run(cotrait::with_timeout(loop, 1h, quick())).v == 2);
    CHECK(tracked::live == 0);
}

TEST_CASE("timeout review: a stop by the caller keeps a result that exists, else cancels") {
    cotrait::run_loop loop;
    std::stop_source src;
    // The operation itself stops the source before the sleep starts (the children start in
    // order): "someone else" stopped it before either finished.
    SECTION("the operation completes anyway: its result") {
        auto op = [&](std::stop_token) -> cotrait::boxed_task<int> {
            src.request_stop();
            co_await cotrait::sleep_for(loop, 5ms);
            co_return 4;
        };
        CHECK(loop.run(cotrait::with_timeout(loop, 1h, src, op(src.get_token()))) == 4);
    }
    SECTION("the operation fails: operation_cancelled, not timed_out") {
        auto op = [&](std::stop_token) -> cotrait::boxed_task<int> {
            src.request_stop();
            co_await cotrait::sleep_for(loop, 5ms);
            throw std::runtime_error("gave up");
        };
        CHECK_THROWS_AS(loop.run(cotrait::with_timeout(loop, 1h, src, op(src.get_token()))),
                        cotrait::operation_cancelled);
    }
    CHECK(cotrait::default_timer_service().pending() == 0);
}

TEST_CASE("timeout review: a late result is kept even when the deadline side itself failed") {
    // The sleep's executor refuses it, so the deadline side ends with operation_cancelled rather
    // than a deadline; the operation, asked to stop, completes all the same. Its result exists
    // and must be returned, not dropped for the sleep's exception.
    cotrait::run_loop loop;
    refusing_executor refusing;
    SECTION("a value") {
        auto op = [&](std::stop_token t) -> cotrait::boxed_task<tracked> {
            co_await cotrait::sleep_for(loop, 20ms);
            CHECK(t.stop_requested());
            co_return tracked(8);
        };
        {
            std::stop_source src;
            auto timed = cotrait::with_timeout(refusing, 1ms, src, op(src.get_token()));
            CHECK(loop.run(std::move(timed)).v == 8);
        }
        CHECK(tracked::live == 0);
    }
    SECTION("the operation fails too: the deadline side's exception") {
        auto op = [&](std::stop_token) -> cotrait::boxed_task<int> {
            co_await cotrait::sleep_for(loop, 20ms);
            throw std::runtime_error("late failure");
        };
        CHECK_THROWS_AS(loop.run(cotrait::with_timeout(refusing, 1ms, op)),
                        cotrait::operation_cancelled);
    }
    SECTION("the token-less form: the deadline side's exception, the result destroyed") {
        auto op = [&]() -> cotrait::boxed_task<tracked> {
            co_await cotrait::sleep_for(loop, 20ms);
            co_return tracked(3);
        };
        CHECK_THROWS_AS(loop.run(cotrait::with_timeout(refusing, 1ms, op())),
                        cotrait::operation_cancelled);
        CHECK(tracked::live == 0);
    }
}
