// COTRAIT_RECYCLING=0 (the default under AddressSanitizer, so that it sees every frame's
// allocation): the headers must build warning-free in that configuration too, and every frame of
// the default choice goes to the global operator new/delete.
#define COTRAIT_RECYCLING 0
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

namespace {

cotrait::boxed_task<int> plus_one(int x) {
    co_return x + 1;
}

cotrait::static_task<int> twice(int x) {
    const int a = co_await plus_one(x);
    co_return a + co_await plus_one(x);
}

} // namespace

TEST_CASE("with recycling disabled, frames come from and go back to the global heap",
          "[frame_allocator][recycling]") {
    const cotrait::recycling_cache_stats before = cotrait::recycling_stats();
    CHECK(cotrait::sync_wait(twice(1)) == 4);
    const cotrait::recycling_cache_stats after = cotrait::recycling_stats();
    CHECK(after.blocks == 0);
    CHECK(after.global_allocations == before.global_allocations);
}
