// Frames whose size is a multiple of 32 may be over-aligned (GCC does not say how aligned a frame
// is), so the run-time policy places them inline in a block with room for the alignment, behind a
// displaced record when they move, and frees them inline given their size. These tests hold that
// path to what the slow one guaranteed: aligned frames, blocks back to the allocating thread's
// cache (also from other threads), blocks back to the chosen resource under a scope, and no
// confusion with frames of the same class that are not over-aligned.
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using cotrait::detail::dynamic_frame_policy;

bool aligned(const void* p, std::size_t a) {
    return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

void* allocate(std::size_t n) {
    return dynamic_frame_policy::operator new(n);
}
void deallocate(void* p, std::size_t n) {
#if COTRAIT_SIZED_DEALLOCATION
    dynamic_frame_policy::operator delete(p, n);
#else
    (void)n;
    dynamic_frame_policy::operator delete(p);
#endif
}

// The size's own alignment, capped like frame_overalignment.
std::size_t needed_alignment(std::size_t n) {
    const std::size_t a = n & (~n + 1);
    return a < COTRAIT_MAX_FRAME_ALIGNMENT ? a : COTRAIT_MAX_FRAME_ALIGNMENT;
}

const std::size_t sizes[] = {64, 96, 128, 256, 384};

} // namespace

TEST_CASE("possibly over-aligned frames are aligned and recycled on this thread",
          "[frame_allocator][alignment]") {
    for (const std::size_t n : sizes) {
        void* first = allocate(n);
        REQUIRE(aligned(first, needed_alignment(n)));
        deallocate(first, n);
        for (int i = 0; i < 8; ++i) {
            void* f = allocate(n);
            REQUIRE(aligned(f, needed_alignment(n)));
#if COTRAIT_RECYCLING
            CHECK(f == first); // the block went back to this thread's list, LIFO
#endif
            deallocate(f, n);
        }
    }
}

TEST_CASE("many live possibly over-aligned frames, mixed with unaligned ones of the same class",
          "[frame_allocator][alignment]") {
#if COTRAIT_RECYCLING
    cotrait::trim_this_thread_recycling_cache();
    const auto before = cotrait::recycling_stats();
#endif
    for (int round = 0; round < 2; ++round) {
        std::vector<void*> frames;
        for (const std::size_t n : sizes) {
            for (int i = 0; i < 16; ++i) {
                frames.push_back(allocate(n));
                REQUIRE(aligned(frames.back(), needed_alignment(n)));
                // A frame of the block class the over-aligned one is served from, not itself a
                // multiple of 32: its records must never be mistaken for displaced ones.
                frames.push_back(allocate(n + needed_alignment(n) - 8));
            }
        }
        std::size_t k = 0;
        for (const std::size_t n : sizes) {
            for (int i = 0; i < 16; ++i) {
                deallocate(frames[k++], n);
                deallocate(frames[k++], n + needed_alignment(n) - 8);
            }
        }
    }
#if COTRAIT_RECYCLING
    // The second round found every block the first one freed: nothing leaked to the heap, nothing
    // was lost.
    const auto after = cotrait::recycling_stats();
    CHECK(after.global_allocations - before.global_allocations == 2 * 16 * std::size(sizes));
    CHECK(after.spills == before.spills);
#endif
}

TEST_CASE("possibly over-aligned frames freed on another thread go back to their owner",
          "[frame_allocator][alignment]") {
#if COTRAIT_RECYCLING
    cotrait::trim_this_thread_recycling_cache();
#endif
    std::vector<void*> frames;
    for (int i = 0; i < 32; ++i) {
        frames.push_back(allocate(64));
        REQUIRE(aligned(frames.back(), 64));
    }
#if COTRAIT_RECYCLING
    const auto before = cotrait::recycling_stats();
#endif
    std::thread t([&frames] {
        for (void* f : frames) {
            deallocate(f, 64);
        }
    });
    t.join();
    for (void*& f : frames) {
        f = allocate(64);
        REQUIRE(aligned(f, 64));
    }
#if COTRAIT_RECYCLING
    const auto after = cotrait::recycling_stats();
    CHECK(after.remote_frees - before.remote_frees == 32);
    CHECK(after.global_allocations == before.global_allocations); // all came back
#endif
    for (void* f : frames) {
        deallocate(f, 64);
    }
}

TEST_CASE("possibly over-aligned frames under a scope go back to the scope's resource",
          "[frame_allocator][alignment]") {
    cotrait::counting_resource<> c;
    {
        cotrait::frame_allocator_scope s{c};
        for (const std::size_t n : sizes) {
            void* f = allocate(n);
            REQUIRE(aligned(f, needed_alignment(n)));
            deallocate(f, n);
        }
    }
    CHECK(c.allocations() == std::size(sizes));
    CHECK(c.deallocations() == std::size(sizes));
}
