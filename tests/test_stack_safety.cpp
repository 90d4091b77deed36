// Long loops of synchronously-completing awaits and deep chains of nested tasks must run in
// bounded stack in every build: these run under the default 8 MiB main-thread stack.
#include "support/test_support.hpp"

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>

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

// Alternates the two task types down the chain.
static_task<long> mixed_chain_static(long depth);
boxed_task<long> mixed_chain_boxed(long depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await mixed_chain_static(depth - 1);
}
static_task<long> mixed_chain_static(long depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await mixed_chain_boxed(depth - 1);
}

} // namespace

TEMPLATE_TEST_CASE("ten million synchronously-completing co_awaits in a loop", "[stack][slow]",
                   cotrait_test::boxed_family, cotrait_test::static_family) {
    CHECK(sync_wait(loop<TestType>(10'000'000)) == 10'000'000);
}

TEMPLATE_TEST_CASE("a chain of one million nested tasks", "[stack][slow]",
                   cotrait_test::boxed_family, cotrait_test::static_family) {
    CHECK(sync_wait(chain<TestType>(1'000'000)) == 1'000'000);
}

TEST_CASE("a chain of one million tasks alternating boxed and static", "[stack][slow]") {
    CHECK(sync_wait(mixed_chain_boxed(1'000'000)) == 1'000'000);
}

TEST_CASE("the resumption strategy in this build is the documented one", "[stack]") {
    // docs/design.md, "Stack safety": symmetric transfer where the compiler guarantees a tail call
    // (Clang always); on GCC symmetric transfer with the stack guard (its macros cannot tell
    // -O1/-Og from -O2), except under ASan/TSan, where the trampoline is used. Worked out here from
    // the compiler's own macros, independently of config.hpp. A wrong choice either overflows the
    // stack in the tests above or pays for the trampoline where it is not needed.
#if defined(__clang__)
    constexpr int expected = 1;
    constexpr int expected_guard = 0;
#elif defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    constexpr int expected = 1;
    constexpr int expected_guard = 1;
#else
    constexpr int expected = 0;
    constexpr int expected_guard = 0;
#endif
    INFO("COTRAIT_SYMMETRIC_TRANSFER=" << COTRAIT_SYMMETRIC_TRANSFER
                                       << ", COTRAIT_STACK_GUARD=" << COTRAIT_STACK_GUARD);
    CHECK(COTRAIT_SYMMETRIC_TRANSFER == expected);
    CHECK(COTRAIT_STACK_GUARD == expected_guard);
}
