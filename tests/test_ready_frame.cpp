// Ready values are laid out as finished coroutine frames (detail/ready_box.hpp): these tests pin
// down what that layout must give every awaiter, for value types of any alignment.
#include <cotrait/boxed_task.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/ready.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/task_error.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace rf {

#if !defined(__clang__) || __clang_major__ >= 15
struct alignas(64) wide {
    int v = 0;
    char pad[60] = {};
};
#endif

cotrait::boxed_task<int> plus_one(int x) {
    co_return x + 1;
}

template <class T>
cotrait::boxed_task<T> pass(cotrait::boxed_task<T> t) {
    co_return co_await t;
}

cotrait::boxed_task<void> fails() {
    throw std::runtime_error("void body");
    co_return;
}

} // namespace rf

// Clang 14 cannot compile a coroutine frame holding an over-aligned object with these promises
// (over-aligned frames are not supported there: docs/allocators.md).
#if !defined(__clang__) || __clang_major__ >= 15
TEST_CASE("ready values of over-aligned types sit where every awaiter reads them") {
    cotrait::boxed_task<rf::wide> t = cotrait::ready(rf::wide{7, {}});
    CHECK(t.is_ready_value());
    const rf::wide w = cotrait::sync_wait(rf::pass(std::move(t)));
    CHECK(w.v == 7);
    CHECK(reinterpret_cast<std::uintptr_t>(&w) % 64 == 0);
    cotrait::boxed_task<rf::wide> e = cotrait::ready_error(std::logic_error("wide"));
    CHECK_THROWS_AS(cotrait::sync_wait(std::move(e)), std::logic_error);
}
#endif

TEST_CASE("a finished frame is done but not a ready value") {
    cotrait::boxed_task<int> t = rf::plus_one(1);
    CHECK_FALSE(t.done());
    CHECK_FALSE(t.is_ready_value());
    auto await_it = [](cotrait::boxed_task<int>& task) -> cotrait::boxed_task<int> {
        co_return co_await task;
    };
    CHECK(cotrait::sync_wait(await_it(t)) == 2);
    CHECK(t.done());
    CHECK_FALSE(t.is_ready_value());
    // Awaiting it again is misuse, not a ready value's second read.
    try {
        cotrait::sync_wait(await_it(t));
        FAIL("no misuse reported");
    } catch (const cotrait::task_misuse& e) {
        CHECK(e.code() == cotrait::task_errc::already_awaited);
    }
}

TEST_CASE("ready values through local_task and when_all, awaited once") {
    cotrait::local_task<std::string> l = cotrait::boxed_task<std::string>(cotrait::ready("abc"));
    auto twice = [](cotrait::local_task<std::string>& task) -> cotrait::local_task<std::string> {
        std::string a = co_await task;
        a += co_await task; // misuse
        co_return a;
    };
    try {
        cotrait::sync_wait(twice(l));
        FAIL("no misuse reported");
    } catch (const cotrait::task_misuse& e) {
        CHECK(e.code() == cotrait::task_errc::already_awaited);
    }
    auto [a, b] = cotrait::sync_wait(
        cotrait::when_all(cotrait::boxed_task<int>(cotrait::ready(1)), rf::plus_one(2)));
    CHECK(a + b == 4);
}

TEST_CASE("a boxed_task<void> reports its body's exception, and succeeds otherwise") {
    CHECK_THROWS_AS(cotrait::sync_wait(rf::fails()), std::runtime_error);
    cotrait::boxed_task<void> ok = cotrait::ready();
    cotrait::sync_wait(rf::pass(std::move(ok)));
}

namespace rf {
// Destroyed during static destruction, whatever the order relative to the empty sentinel.
cotrait::boxed_task<int> g_empty_at_exit;
cotrait::boxed_task<int> g_moved_from_at_exit = cotrait::ready(1);
cotrait::boxed_task<int> g_taker = std::move(g_moved_from_at_exit);

template <class Task>
cotrait::task_errc misuse_of(Task& t) {
    auto await_it = [](Task& task) -> cotrait::boxed_task<void> { co_await task; };
    try {
        cotrait::sync_wait(await_it(t));
    } catch (const cotrait::task_misuse& e) {
        return e.code();
    }
    FAIL("no misuse reported");
    return cotrait::task_errc{};
}
} // namespace rf

TEST_CASE("an empty boxed_task: default, moved-from, or from an empty static_task") {
    cotrait::boxed_task<int> d;
    CHECK_FALSE(d.valid());
    CHECK_FALSE(d.done());
    CHECK_FALSE(d.is_ready_value());
    CHECK(rf::misuse_of(d) == cotrait::task_errc::empty_task);

    cotrait::boxed_task<int> src = rf::plus_one(1);
    cotrait::boxed_task<int> dst = std::move(src);
    CHECK_FALSE(src.valid()); // NOLINT(bugprone-use-after-move): moved-from is empty
    CHECK(rf::misuse_of(src) == cotrait::task_errc::empty_task);
    CHECK(cotrait::sync_wait(std::move(dst)) == 2);

    cotrait::static_task<int> empty_static;
    cotrait::boxed_task<int> from_static = std::move(empty_static);
    CHECK_FALSE(from_static.valid());
    CHECK(rf::misuse_of(from_static) == cotrait::task_errc::empty_task);

    // Move-assigning into and out of empty tasks destroys exactly what it must.
    cotrait::boxed_task<std::string> a = cotrait::ready(std::string("x"));
    cotrait::boxed_task<std::string> b;
    b = std::move(a);
    a = std::move(b);
    CHECK(a.is_ready_value());
    CHECK_FALSE(b.valid()); // NOLINT(bugprone-use-after-move)
    CHECK(cotrait::sync_wait(std::move(a)) == "x");
    CHECK(rf::g_taker.is_ready_value());
    CHECK_FALSE(rf::g_moved_from_at_exit.valid());
    CHECK_FALSE(rf::g_empty_at_exit.valid());
}
