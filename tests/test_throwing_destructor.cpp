// A destructor that throws after `co_return` has built the result (a local of the coroutine, or a
// temporary of the drivers' `co_return co_await a;`) must not leak that result: the exception
// replaces it, and the value already constructed is destroyed (issue 9, item 2). The counted
// results show a leak directly; LeakSanitizer also sees the std::string cases under ASan.
#include "support/test_support.hpp"

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <coroutine>
#include <stdexcept>
#include <string>
#include <vector>

using namespace cotrait;
using cotrait_test::counted;
using cotrait_test::counters;

namespace {

struct throws_on_destruction {
    throws_on_destruction() = default;
    throws_on_destruction(const throws_on_destruction&) = delete;
    throws_on_destruction& operator=(const throws_on_destruction&) = delete;
    ~throws_on_destruction() noexcept(false) { throw std::runtime_error("destructor"); }
};

template <class F>
typename F::template task<counted> counted_then_throw(counters& c) {
    throws_on_destruction guard;
    co_return counted(c, 7);
}

template <class F>
typename F::template task<std::string> string_then_throw() {
    throws_on_destruction guard;
    co_return std::string(200, 'x');
}

template <class F>
typename F::template task<counted> outer(counters& c) {
    co_return co_await counted_then_throw<F>(c);
}

// An awaitable whose awaiter (a temporary of the full expression `co_return co_await a;` in the
// drivers of sync_wait, when_all and run_loop) throws from its destructor after the driver's
// result was constructed from await_resume.
struct throwing_awaiter {
    counters* c;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<> /*h*/) const noexcept {}
    counted await_resume() const { return counted(*c, 3); }
    ~throwing_awaiter() noexcept(false) { throw std::runtime_error("awaiter destructor"); }
};

struct throwing_awaitable {
    counters* c;
    throwing_awaiter operator co_await() const { return throwing_awaiter{c}; }
};

} // namespace

TEMPLATE_TEST_CASE("a local whose destructor throws after co_return: the result is destroyed",
                   "[result]", cotrait_test::boxed_family, cotrait_test::static_family) {
    counters c;
    CHECK_THROWS_WITH(sync_wait(counted_then_throw<TestType>(c)),
                      Catch::Matchers::Equals("destructor"));
    CHECK(c.alive() == 0);
    CHECK(c.constructed >= 1);
}

TEMPLATE_TEST_CASE("a throwing local after co_return of a string: no leak (LSan)", "[result]",
                   cotrait_test::boxed_family, cotrait_test::static_family) {
    CHECK_THROWS_WITH(sync_wait(string_then_throw<TestType>()),
                      Catch::Matchers::Equals("destructor"));
}

TEMPLATE_TEST_CASE("a throwing local in an awaited task: the awaiter gets the exception, no leak",
                   "[result]", cotrait_test::boxed_family, cotrait_test::static_family) {
    counters c;
    CHECK_THROWS_WITH(sync_wait(outer<TestType>(c)), Catch::Matchers::Equals("destructor"));
    CHECK(c.alive() == 0);
}

TEST_CASE("sync_wait's driver: a throwing awaiter destructor after the result was built",
          "[result]") {
    counters c;
    CHECK_THROWS_WITH(sync_wait(throwing_awaitable{&c}),
                      Catch::Matchers::Equals("awaiter destructor"));
    CHECK(c.constructed == 1);
    CHECK(c.alive() == 0);
}

TEST_CASE("when_all's drivers: a throwing awaiter destructor after the result was built",
          "[result]") {
    counters c;
    CHECK_THROWS_WITH(sync_wait(when_all(throwing_awaitable{&c})),
                      Catch::Matchers::Equals("awaiter destructor"));
    CHECK(c.constructed == 1);
    CHECK(c.alive() == 0);
}

TEST_CASE("run_loop::run's driver: a throwing awaiter destructor after the result was built",
          "[result]") {
    counters c;
    run_loop loop;
    CHECK_THROWS_WITH(loop.run(throwing_awaitable{&c}),
                      Catch::Matchers::Equals("awaiter destructor"));
    CHECK(c.constructed == 1);
    CHECK(c.alive() == 0);
}
