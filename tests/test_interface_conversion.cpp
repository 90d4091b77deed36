// Implementations returning a cotrait task of another result type (issue 9, item 12): the adapter
// rejects them (tests/compile_fail/interface_converting_result.cpp) unless the implementation
// opts in with cotrait::allow_result_conversion, and then each call costs a second frame.
#include <cotrait/interface.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <optional>

namespace conversion {

ASYNC_INTERFACE(Sized, (size, (std::size_t), ()));

struct Exact {
    cotrait::static_task<std::size_t> size() { co_return 42; }
};
struct Narrow {
    cotrait::static_task<int> size() { co_return 7; }
};
struct BoxedNarrow {
    cotrait::boxed_task<unsigned> size() { co_return 9U; }
};

} // namespace conversion

template <>
inline constexpr bool cotrait::allow_result_conversion<conversion::Narrow> = true;
template <>
inline constexpr bool cotrait::allow_result_conversion<conversion::BoxedNarrow> = true;

TEST_CASE("the exact result type is adopted: one frame per call") {
    cotrait::adapter<conversion::Sized, conversion::Exact> a{conversion::Exact{}};
    conversion::Sized& s = a;
    std::size_t got = 0;
    const cotrait::frame_usage u =
        cotrait::measure_frames([&]() -> cotrait::boxed_task<void> { got = co_await s.size(); });
    CHECK(got == 42);
    // The measuring coroutine's frame and the implementation's.
    CHECK(u.frames == 2);
}

TEST_CASE("an opted-in converting result works and costs one more frame") {
    STATIC_REQUIRE(cotrait::detail::converting_task_v<cotrait::static_task<int>, std::size_t>);
    STATIC_REQUIRE_FALSE(
        cotrait::detail::converting_task_v<cotrait::static_task<std::size_t>, std::size_t>);
    cotrait::adapter<conversion::Sized, conversion::Narrow> a{conversion::Narrow{}};
    conversion::Sized& s = a;
    CHECK(cotrait::measure_frames([&] { return s.size(); }).frames == 2);
    CHECK(cotrait::sync_wait(s.size()) == 7U);
    cotrait::adapter<conversion::Sized, conversion::BoxedNarrow> b{conversion::BoxedNarrow{}};
    conversion::Sized& t = b;
    CHECK(cotrait::measure_frames([&] { return t.size(); }).frames == 2);
    CHECK(cotrait::sync_wait(t.size()) == 9U);
    cotrait::adapter<conversion::Sized, conversion::Exact> e{conversion::Exact{}};
    conversion::Sized& x = e;
    CHECK(cotrait::measure_frames([&] { return x.size(); }).frames == 1);
}
