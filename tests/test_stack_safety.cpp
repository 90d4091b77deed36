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

TEMPLATE_TEST_CASE("ten million synchronously-completing co_awaits in a loop", "[stack]",
                   cotrait_test::boxed_family, cotrait_test::static_family) {
    CHECK(sync_wait(loop<TestType>(10'000'000)) == 10'000'000);
}

TEMPLATE_TEST_CASE("a chain of one million nested tasks", "[stack]", cotrait_test::boxed_family,
                   cotrait_test::static_family) {
    CHECK(sync_wait(chain<TestType>(1'000'000)) == 1'000'000);
}

TEST_CASE("a chain of one million tasks alternating boxed and static", "[stack]") {
    CHECK(sync_wait(mixed_chain_boxed(1'000'000)) == 1'000'000);
}

TEST_CASE("the resumption strategy in this build", "[stack]") {
    // Not a check: records which strategy the configuration chose, for the test log.
    INFO("COTRAIT_SYMMETRIC_TRANSFER=" << COTRAIT_SYMMETRIC_TRANSFER);
    SUCCEED();
}
