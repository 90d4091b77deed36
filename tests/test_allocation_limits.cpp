// Requests near SIZE_MAX: every resource and allocator of cotrait throws std::bad_alloc instead of
// wrapping the size around (a small block, an out-of-bounds size class) or looping forever.
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory_resource>
#include <new>
#include <vector>

namespace {

constexpr std::size_t huge_sizes[] = {
    std::numeric_limits<std::size_t>::max(),
    std::numeric_limits<std::size_t>::max() - 8,
    std::numeric_limits<std::size_t>::max() - 20,
    std::numeric_limits<std::size_t>::max() / 2 + 1,
    std::numeric_limits<std::size_t>::max() / 4 + 2,
};
// Every size above is past what cotrait accepts, so each must be refused by cotrait's own check:
// none may reach the global operator new, whose failure a sanitizer runtime reports as fatal.

} // namespace

TEST_CASE("arena_resource: a request too large for any block throws instead of spinning") {
    for (const std::size_t n : huge_sizes) {
        cotrait::arena_resource arena;
        CHECK_THROWS_AS(arena.allocate(n, 16), std::bad_alloc);
        // Still usable afterwards.
        void* p = arena.allocate(64, 16);
        CHECK(p != nullptr);
        arena.deallocate(p, 64, 16);
    }
    cotrait::arena_resource arena;
    std::pmr::vector<char> v(&arena);
    CHECK_THROWS(v.reserve(v.max_size()));
    CHECK(v.capacity() == 0);
}

TEST_CASE("arena_resource: the block doubling stops at the request instead of overflowing") {
    // A first block size whose doublings never land on the request: the arena must ask upstream
    // for what is needed, not loop until the size wraps to 0.
    cotrait::arena_resource arena(std::size_t{3} << 60, std::pmr::null_memory_resource());
    CHECK_THROWS_AS(arena.allocate(std::size_t{1} << 62, 16), std::bad_alloc);
}

TEST_CASE("recycling resource and allocator: huge requests throw std::bad_alloc") {
    std::pmr::memory_resource* r = cotrait::recycling_resource();
    for (const std::size_t n : huge_sizes) {
        CHECK_THROWS_AS(r->allocate(n, 8), std::bad_alloc);
        CHECK_THROWS_AS(r->allocate(n, 16), std::bad_alloc);
    }
    cotrait::recycling_allocator<std::uint64_t> a;
    CHECK_THROWS_AS(a.allocate(std::numeric_limits<std::size_t>::max() / 8 + 1), std::bad_alloc);
    CHECK_THROWS_AS(a.allocate(std::numeric_limits<std::size_t>::max() / 4), std::bad_alloc);
    // Normal sizes keep working, through the record too.
    std::uint64_t* p = a.allocate(10);
    p[9] = 42;
    CHECK(p[9] == 42);
    a.deallocate(p, 10);
}

TEST_CASE("new_delete allocator: n * sizeof(T) that would wrap throws std::bad_alloc") {
    cotrait::new_delete_allocator<std::uint64_t> a;
    CHECK_THROWS_AS(a.allocate(std::numeric_limits<std::size_t>::max() / 8 + 1), std::bad_alloc);
}

TEST_CASE("inline_resource passes a huge request's failure on") {
    // The overflow goes upstream; an upstream that refuses shows the failure is passed on.
    cotrait::inline_resource<256, cotrait::overflow_policy::heap> store(
        std::pmr::null_memory_resource());
    CHECK_THROWS_AS(store.allocate(huge_sizes[1], 16), std::bad_alloc);
    cotrait::inline_resource<256> strict;
    CHECK_THROWS_AS(strict.allocate(huge_sizes[2], 16), std::bad_alloc);
}
