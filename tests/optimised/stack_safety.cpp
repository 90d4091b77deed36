// Stack safety at the optimisation levels where GCC does not turn symmetric transfer into a tail
// call (-O1, -Og; issue 9, item 6). tests/CMakeLists.txt builds this file as stack_safety_O1 and
// stack_safety_Og with those flags added after the build type's, with no cotrait macro defined:
// the default configuration must be stack-safe on its own. Everything runs under the default 8 MiB
// main-thread stack, and on a pool thread.
#include "../support/test_support.hpp"

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

#include <coroutine>

using namespace cotrait;

namespace {

template <class F>
typename F::template task<int> one() {
    co_return 1;
}

template <class F>
typename F::template task<long> loop(long n) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        sum += co_await one<F>();
    }
    co_return sum;
}

template <class F>
typename F::template task<long> chain(long depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain<F>(depth - 1);
}

// Resumes the awaiting coroutine itself, inside await_suspend: a resumer that is not cotrait's.
struct resume_inline {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { h.resume(); }
    void await_resume() const noexcept {}
};

[[maybe_unused]] boxed_task<long> loop_with_foreign_resumes(long n) {
    long sum = 0;
    for (long i = 0; i < n; ++i) {
        if (i % 1000 == 0) {
            co_await resume_inline{};
        }
        sum += co_await one<cotrait_test::boxed_family>();
    }
    co_return sum;
}

template <class F>
typename F::template task<long> on_pool(thread_pool& pool, long n) {
    co_await pool.schedule();
    co_return co_await loop<F>(n) + co_await chain<F>(n);
}

} // namespace

TEMPLATE_TEST_CASE("one million synchronously completing co_awaits in a loop", "[stack]",
                   cotrait_test::boxed_family, cotrait_test::static_family) {
    CHECK(sync_wait(loop<TestType>(1'000'000)) == 1'000'000);
}

TEMPLATE_TEST_CASE("a chain of one million nested tasks", "[stack]", cotrait_test::boxed_family,
                   cotrait_test::static_family) {
    CHECK(sync_wait(chain<TestType>(1'000'000)) == 1'000'000);
}

TEST_CASE("a loop with resumptions by a foreign resumer in between", "[stack]") {
#if defined(__clang__) && __clang_major__ < 15
    // Clang 14 at -O1/-Og loses the awaiting coroutine after an await_suspend that resumes it
    // inline, with or without cotrait's stack guard (docs/design.md, compiler bugs): it hangs.
    SKIP("Clang 14 miscompiles an inline resumption inside await_suspend at -O1/-Og");
#else
    CHECK(sync_wait(loop_with_foreign_resumes(1'000'000)) == 1'000'000);
#endif
}

TEMPLATE_TEST_CASE("the loop and the chain on a thread_pool thread", "[stack]",
                   cotrait_test::boxed_family, cotrait_test::static_family) {
    thread_pool pool(1);
    CHECK(sync_wait(on_pool<TestType>(pool, 1'000'000)) == 2'000'000);
}

TEST_CASE("when_all over deep chains", "[stack]") {
    const auto [a, b] = sync_wait(when_all(chain<cotrait_test::boxed_family>(500'000),
                                           chain<cotrait_test::static_family>(500'000)));
    CHECK(a == 500'000);
    CHECK(b == 500'000);
}
