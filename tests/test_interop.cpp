// boxed_task <-> static_task: awaiting each from the other, and converting without a new frame.
#include "support/test_support.hpp"

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

// Count every global allocation made by this test program.
namespace {
std::atomic<long> g_news{0};
std::atomic<long> g_deletes{0};
} // namespace

void* operator new(std::size_t n) {
    ++g_news;
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    if (p != nullptr) {
        ++g_deletes;
    }
    std::free(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
    operator delete(p);
}

using namespace cotrait;

namespace {

static_task<int> static_leaf(int x) {
    co_return x * 2;
}
boxed_task<int> boxed_leaf(int x) {
    co_return x + 1;
}

boxed_task<int> boxed_awaits_static(int x) {
    co_return co_await static_leaf(x);
}
static_task<int> static_awaits_boxed(int x) {
    co_return co_await boxed_leaf(x);
}

static_task<std::string> static_string() {
    co_return std::string(100, 'x');
}

// What an interface adapter does: return the static implementation's task as a boxed_task.
boxed_task<int> forward_static(int x) COTRAIT_CORO_WRAPPER;
boxed_task<int> forward_static(int x) {
    return static_leaf(x);
}

// A stateless allocator that counts what it hands out and gets back, across its rebinds.
struct fixed_counts {
    static inline int allocations = 0;
    static inline int deallocations = 0;
};
template <class T>
struct counting_fixed_allocator {
    using value_type = T;
    counting_fixed_allocator() = default;
    template <class U>
    counting_fixed_allocator(const counting_fixed_allocator<U>& /*other*/) noexcept {}
    T* allocate(std::size_t n) {
        ++fixed_counts::allocations;
        return std::allocator<T>{}.allocate(n);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        ++fixed_counts::deallocations;
        std::allocator<T>{}.deallocate(p, n);
    }
    friend bool operator==(counting_fixed_allocator /*a*/, counting_fixed_allocator /*b*/) {
        return true;
    }
};

// Not inlined: with the ramp inlined, Clang at -O1 (the ASan preset) elides the frame of a task
// created and destroyed in one scope (HALO), and the allocator is never called for it.
COTRAIT_NOINLINE static_task<void, counting_fixed_allocator<std::byte>> fixed_void(int& hits) {
    ++hits;
    co_return;
}

} // namespace

TEST_CASE("static_task and boxed_task await each other", "[interop]") {
    CHECK(sync_wait(boxed_awaits_static(4)) == 8);
    CHECK(sync_wait(static_awaits_boxed(4)) == 5);
}

TEST_CASE("static_task converts to boxed_task by adopting its frame, with no allocation",
          "[interop]") {
    cotrait_test::counting_resource res;
    frame_allocator_scope scope(res);

    static_task<int> s = static_leaf(21);
    REQUIRE(res.allocations == 1);
    const long news_before = g_news.load();
    const long deletes_before = g_deletes.load();

    boxed_task<int> b = std::move(s);

    CHECK(g_news.load() == news_before);
    CHECK(g_deletes.load() == deletes_before);
    CHECK(res.allocations == 1);
    CHECK(res.deallocations == 0);
    CHECK_FALSE(s.valid()); // NOLINT(bugprone-use-after-move): the frame moved
    CHECK(b.valid());
    CHECK(sync_wait(b) == 42);
    CHECK(res.allocations == 1);
}

TEST_CASE("a converted task with a fixed allocator keeps its own deallocation", "[interop]") {
    fixed_counts::allocations = 0;
    fixed_counts::deallocations = 0;
    // A scope resource must see nothing: the frame's allocator is fixed by its type, for the
    // allocation and, after the conversion to boxed_task, for the deallocation.
    cotrait_test::counting_resource scoped;
    frame_allocator_scope scope(scoped);
    int hits = 0;
    {
        boxed_task<void> b = fixed_void(hits);
        CHECK(fixed_counts::allocations == 1);
        sync_wait(b);
        CHECK(fixed_counts::deallocations == 0); // the task object still owns the frame
    }
    CHECK(hits == 1);
    CHECK(fixed_counts::deallocations == 1);
    {
        boxed_task<void> never = fixed_void(hits); // destroyed without being awaited
        CHECK(fixed_counts::allocations == 2);
    }
    CHECK(hits == 1);
    CHECK(fixed_counts::deallocations == 2);
    CHECK(scoped.allocations == 0);
    CHECK(scoped.deallocations == 0);
}

TEST_CASE("a non-coroutine forwarding function returns the static frame as a boxed_task",
          "[interop]") {
    cotrait_test::counting_resource res;
    frame_allocator_scope scope(res);
    CHECK(sync_wait(forward_static(5)) == 10);
    CHECK(res.allocations == 1);
    CHECK(res.live_bytes == 0);
}

TEST_CASE("results that allocate pass through both task types", "[interop]") {
    boxed_task<std::string> b = static_string();
    CHECK(sync_wait(b).size() == 100);
}

TEST_CASE("steady-state awaiting with the default resource does not call the global allocator",
          "[interop][alloc]") {
#if COTRAIT_RECYCLING
    // Warm the caches (and sync_wait's driver block), then count.
    sync_wait(boxed_awaits_static(1));
    const long before = g_news.load();
    long sum = 0;
    for (int i = 0; i < 1000; ++i) {
        sum += sync_wait(boxed_awaits_static(i));
    }
    CHECK(sum == 999 * 1000);
    CHECK(g_news.load() == before);
#else
    SKIP("frame recycling is compiled out (COTRAIT_RECYCLING=0, e.g. under AddressSanitizer)");
#endif
}
