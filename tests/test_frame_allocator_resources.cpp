// The built-in resources (arena, inline_resource, counting) and allocation failure.
#include <cotrait/cotrait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#if defined(__unix__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace {

using counter = cotrait::counting_resource<>;

// Not inlined: these tests count the frames of calls really made. With the ramp inlined, Clang at
// -O1 (the ASan preset) elides the frame of a leaf awaited in `loop` (HALO), and the counts drop
// to the loop's frame alone.
COTRAIT_NOINLINE cotrait::boxed_task<int> leaf(int x) {
    co_return x;
}

// Takes a task out of the optimizer's sight, which could otherwise elide the frame of a task
// created and destroyed in one function.
COTRAIT_NOINLINE void discard(cotrait::boxed_task<int>&& t) {
    const cotrait::boxed_task<int> owned = std::move(t);
}

cotrait::boxed_task<int> chain(int depth) {
    if (depth == 0) {
        co_return 0;
    }
    co_return 1 + co_await chain(depth - 1);
}

cotrait::boxed_task<int> loop(int calls) {
    int sum = 0;
    for (int i = 0; i < calls; ++i) {
        sum += co_await leaf(1);
    }
    co_return sum;
}

// Not inlined, so that the frame is really allocated (see discard).
[[maybe_unused]] COTRAIT_NOINLINE cotrait::boxed_task<int>
with_scope_leaf(cotrait::arena_resource& arena) {
    cotrait::frame_allocator_scope s{arena};
    return leaf(3);
}

#if defined(__unix__)
// Runs `f` in a child process; true if the child died of SIGABRT.
template <class F>
bool aborts(F f) {
    std::fflush(nullptr); // or the child would write the parent's buffered output again
    const pid_t pid = ::fork();
    if (pid == 0) {
        // The diagnostic is the point; keep the test log readable.
        // Catch2's own SIGABRT handler would report a failure from the child.
        std::signal(SIGABRT, SIG_DFL);
        std::FILE* quiet_err = std::freopen("/dev/null", "w", stderr);
        std::FILE* quiet_out = std::freopen("/dev/null", "w", stdout);
        (void)quiet_err;
        (void)quiet_out;
        f();
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}
#endif

} // namespace

TEST_CASE("counting: stats are exact") {
    counter c;
    void* a = c.allocate(100);
    void* b = c.allocate(3000, 64);
    CHECK(reinterpret_cast<std::uintptr_t>(b) % 64 == 0);
    c.deallocate(a, 100);
    void* d = c.allocate(16);
    const cotrait::counting_stats s = c.stats();
    CHECK(s.allocations == 3);
    CHECK(s.deallocations == 1);
    CHECK(s.bytes_allocated == 3116);
    CHECK(s.bytes_deallocated == 100);
    CHECK(s.live_bytes == 3016);
    CHECK(s.peak_live_bytes == 3100);
    CHECK(s.live_allocations() == 2);
    CHECK(s.failures == 0);
    CHECK(c.allocations_of_size(100) == 1);
    CHECK(c.allocations_of_size(97) == 1); // same 16-byte bucket (97..112)
    CHECK(c.allocations_of_size(16) == 1);
    CHECK(c.allocations_of_size(3000) == 1); // 2049..4096
    CHECK(c.allocations_of_size(5000) == 0);
    CHECK(counter::bucket_of(1) == 0);
    CHECK(counter::bucket_of(16) == 0);
    CHECK(counter::bucket_of(17) == 1);
    CHECK(counter::bucket_of(1024) == 63);
    CHECK(counter::bucket_of(1025) == 64);
    CHECK(counter::bucket_of(std::size_t{1} << 20) == 73);
    CHECK(counter::bucket_of((std::size_t{1} << 20) + 1) == 74);
    const cotrait::size_bucket bk = c.bucket(counter::bucket_of(3000));
    CHECK(bk.min_bytes == 2049);
    CHECK(bk.max_bytes == 4096);
    CHECK(bk.count == 1);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < counter::histogram_size; ++i) {
        total += c.bucket(i).count;
    }
    CHECK(total == 3);
    c.deallocate(b, 3000, 64);
    c.deallocate(d, 16);
    CHECK(c.live_bytes() == 0);
    CHECK(c.peak_live_bytes() == 3100);
    c.reset_stats();
    CHECK(c.allocations() == 0);
    CHECK(c.peak_live_bytes() == 0);
    CHECK(c.allocations_of_size(100) == 0);
}

TEST_CASE("counting: frames of a call loop, counted per call") {
    counter c;
    {
        cotrait::frame_allocator_scope s{c};
        CHECK(cotrait::sync_wait(loop(100)) == 100);
    }
    // loop's own frame plus one per call, each with its 16-byte record.
    CHECK(c.allocations() == 101);
    CHECK(c.deallocations() == 101);
    CHECK(c.live_bytes() == 0);
    CHECK(c.stats().bytes_allocated % 16 == 0);
    // At most two frames are alive at once: loop's and one leaf's.
    CHECK(c.peak_live_bytes() < c.stats().bytes_allocated / 20);
}

TEST_CASE("counting: owning upstream type, and the thread-safe variant under contention") {
    cotrait::sync_counting_resource<std::pmr::synchronized_pool_resource> c;
    constexpr int threads = 4;
    constexpr int calls = 500;
    std::vector<std::thread> pool;
    std::atomic<int> sum{0};
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            cotrait::frame_allocator_scope s{c};
            sum.fetch_add(cotrait::sync_wait(loop(calls)));
        });
    }
    for (auto& t : pool) {
        t.join();
    }
    CHECK(sum.load() == threads * calls);
    CHECK(c.allocations() == threads * (calls + 1));
    CHECK(c.deallocations() == c.allocations());
    CHECK(c.live_bytes() == 0);
    CHECK(c.peak_live_bytes() > 0);
}

TEST_CASE("arena: bump allocation, growth, LIFO reuse and release") {
    counter upstream;
    cotrait::arena_resource arena(1024, &upstream);
    {
        cotrait::frame_allocator_scope s{arena};
        // A loop of calls frees in LIFO order: constant space.
        CHECK(cotrait::sync_wait(loop(10)) == 10);
        const std::size_t blocks = arena.upstream_blocks();
        const std::uint64_t bytes = upstream.stats().bytes_allocated;
        CHECK(cotrait::sync_wait(loop(1000)) == 1000);
        CHECK(arena.upstream_blocks() == blocks);
        CHECK(upstream.stats().bytes_allocated == bytes);
        // Nested calls: a chain deeper than the first block forces growth.
        CHECK(cotrait::sync_wait(chain(40)) == 40);
    }
    CHECK(arena.live_allocations() == 0);
    CHECK(arena.upstream_blocks() >= 2);
    CHECK(upstream.live_bytes() > 0);
    arena.release();
    CHECK(arena.upstream_blocks() == 0);
    CHECK(upstream.live_bytes() == 0);
    // Frames kept alive while others come and go: non-LIFO frees are just counted.
    {
        cotrait::frame_allocator_scope s{arena};
        std::vector<cotrait::boxed_task<int>> tasks;
        for (int i = 0; i < 10; ++i) {
            tasks.push_back(leaf(i));
        }
        CHECK(arena.live_allocations() == 10);
        int sum = 0;
        for (auto& t : tasks) {
            sum += cotrait::sync_wait(std::move(t));
        }
        CHECK(sum == 45);
        tasks.clear();
    }
    CHECK(arena.live_allocations() == 0);
    CHECK(arena.bytes_in_current_block() == 0);
}

TEST_CASE("arena: caller buffer first, and no growth with the null resource") {
    alignas(16) unsigned char buffer[2048];
    cotrait::arena_resource arena(buffer, sizeof buffer, std::pmr::null_memory_resource());
    const auto inside = [&](const void* p) {
        const auto* c = static_cast<const unsigned char*>(p);
        return c >= buffer && c < buffer + sizeof buffer;
    };
    void* p = arena.allocate(64);
    CHECK(inside(p));
    arena.deallocate(p, 64);
    int sum = 0;
    {
        cotrait::frame_allocator_scope s{arena};
        sum = cotrait::sync_wait(chain(5));
    }
    CHECK(sum == 5);
    CHECK(arena.upstream_blocks() == 0);
    // Too deep for 2 KiB: the call that needs the frame that does not fit throws bad_alloc.
    {
        cotrait::frame_allocator_scope s{arena};
        CHECK_THROWS_AS(cotrait::sync_wait(chain(200)), std::bad_alloc);
    }
    CHECK(arena.live_allocations() == 0);
}

#if defined(__unix__) && COTRAIT_ARENA_CHECKS
TEST_CASE(
    "arena and inline_resource: destroying or releasing them under live frames is diagnosed") {
    CHECK(aborts([] {
        auto* arena = new cotrait::arena_resource();
        auto t = with_scope_leaf(*arena);
        delete arena; // t's frame is still alive
    }));
    CHECK(aborts([] {
        cotrait::arena_resource arena;
        auto t = with_scope_leaf(arena);
        arena.release();
    }));
    CHECK(aborts([] {
        auto* storage = new cotrait::inline_resource<128, cotrait::overflow_policy::heap>();
        std::vector<cotrait::boxed_task<int>> tasks;
        {
            cotrait::frame_allocator_scope s{*storage};
            for (int i = 0; i < 4; ++i) {
                tasks.push_back(leaf(i)); // at most one fits; the others overflow to the heap
            }
        }
        tasks.erase(tasks.begin()); // heap-fallback frames stay alive
        delete storage;
    }));
    // The same without the misuse does not abort.
    CHECK_FALSE(aborts([] {
        cotrait::arena_resource arena;
        { auto t = with_scope_leaf(arena); }
        arena.release();
    }));
}
#endif

TEST_CASE("inline_resource: frames that fit use the buffer only") {
    counter heap;
    cotrait::inline_resource<1024> storage(&heap);
    int sum = 0;
    {
        cotrait::frame_allocator_scope s{storage};
        sum += cotrait::sync_wait(loop(100));
        sum += cotrait::sync_wait(chain(3));
    }
    CHECK(sum == 103);
    CHECK(storage.live_allocations() == 0);
    CHECK(storage.used() == 0);
    CHECK(storage.high_water() > 0);
    CHECK(storage.high_water() <= storage.capacity());
    CHECK(heap.allocations() == 0);
    // Per call, through std::allocator_arg.
    auto f = [](std::allocator_arg_t, std::pmr::memory_resource*,
                int x) -> cotrait::boxed_task<int> { co_return x; };
    CHECK(cotrait::sync_wait(f(std::allocator_arg, &storage, 9)) == 9);
    CHECK(heap.allocations() == 0);
}

TEST_CASE("inline_resource: overflow with the error policy throws frame_overflow") {
    cotrait::inline_resource<512, cotrait::overflow_policy::error> storage;
    auto t1 = cotrait::boxed_task<int>();
    {
        cotrait::frame_allocator_scope s{storage};
        t1 = leaf(1); // fits
        bool thrown = false;
        try {
            auto deep = chain(50); // the first frame fits; the chain does not
            (void)cotrait::sync_wait(std::move(deep));
        } catch (const cotrait::frame_overflow& e) {
            thrown = true;
            CHECK(e.capacity() == 512);
            CHECK(e.requested() > e.available());
            CHECK(std::strstr(e.what(), "inline_resource") != nullptr);
        }
        CHECK(thrown);
        // A direct call that cannot fit throws from the call expression itself, and only once the
        // buffer is really full: every leaf frame takes the same step of the buffer.
        std::vector<cotrait::boxed_task<int>> many;
        const std::size_t before = storage.used();
        std::size_t step = 0;
        std::size_t requested = 0;
        std::size_t available = 0;
        bool overflowed = false;
        try {
            for (int i = 0; i < 100; ++i) {
                many.push_back(leaf(i));
                if (many.size() == 1) {
                    step = storage.used() - before;
                }
            }
        } catch (const std::bad_alloc& e) { // frame_overflow is a bad_alloc
            overflowed = true;
            const auto* overflow = dynamic_cast<const cotrait::frame_overflow*>(&e);
            REQUIRE(overflow != nullptr);
            requested = overflow->requested();
            available = overflow->available();
        }
        INFO("used " << storage.used() << " high water " << storage.high_water() << " step "
                     << step);
        REQUIRE(overflowed);
        REQUIRE(step > 0);
        CHECK(many.size() == (storage.capacity() - before) / step);
        CHECK(storage.used() == before + many.size() * step);
        CHECK(storage.live_allocations() == many.size() + 1); // and t1
        CHECK(available == storage.capacity() - storage.used());
        CHECK(requested > available);
    }
    CHECK(cotrait::sync_wait(std::move(t1)) == 1);
    t1 = {};
    CHECK(storage.live_allocations() == 0);
}

TEST_CASE("inline_resource: overflow with the heap policy falls back to upstream") {
    counter heap;
    cotrait::inline_resource<256, cotrait::overflow_policy::heap> storage(&heap);
    {
        cotrait::frame_allocator_scope s{storage};
        CHECK(cotrait::sync_wait(chain(50)) == 50);
    }
    CHECK(storage.overflows() > 0);
    CHECK(heap.allocations() == storage.overflows());
    CHECK(heap.live_bytes() == 0);
    CHECK(storage.live_allocations() == 0);
    CHECK(storage.high_water() <= 256);
}

namespace {

// Fails the k-th allocation (1-based) with std::bad_alloc; forwards the others.
class failing_resource final : public std::pmr::memory_resource {
public:
    explicit failing_resource(std::pmr::memory_resource* upstream) noexcept : up_(upstream) {}
    int fail_at = 0;
    int attempts = 0;

private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        if (++attempts == fail_at) {
            throw std::bad_alloc();
        }
        return up_->allocate(bytes, alignment);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
        up_->deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
        return this == &o;
    }
    std::pmr::memory_resource* up_;
};

struct tally {
    int constructed = 0;
    int destroyed = 0;
    int calls = 0;  // coroutine calls made (their arguments were built)
    int bodies = 0; // coroutine bodies entered
};

struct tracked {
    tally* t;
    explicit tracked(tally* tt) : t(tt) { ++t->constructed; }
    tracked(const tracked& o) : t(o.t) { ++t->constructed; }
    tracked(tracked&& o) noexcept : t(o.t) { ++t->constructed; }
    tracked& operator=(const tracked&) = delete;
    ~tracked() { ++t->destroyed; }
};

// The argument of one call: counts the call, before its frame is allocated.
tracked call_arg(tally* t) {
    ++t->calls;
    return tracked(t);
}

struct Tree {
    virtual ~Tree() = default;
    virtual cotrait::boxed_task<int> node(int depth, tracked arg) = 0;
};

cotrait::boxed_task<int> free_node(Tree& tree, int depth, tracked arg);

struct TreeImpl final : Tree {
    cotrait::boxed_task<int> node(int depth, tracked arg) override {
        ++arg.t->bodies;
        tracked local(arg.t);
        if (depth == 0) {
            co_return 1;
        }
        const int a = co_await free_node(*this, depth - 1, call_arg(arg.t));
        const int b = co_await node(depth - 1, call_arg(arg.t));
        co_return a + b + 1;
    }
};

cotrait::boxed_task<int> free_node(Tree& tree, int depth, tracked arg) {
    ++arg.t->bodies;
    tracked local(arg.t);
    if (depth == 0) {
        co_return 1;
    }
    const int a = co_await tree.node(depth - 1, call_arg(arg.t));
    const int b = co_await free_node(tree, depth - 1, call_arg(arg.t));
    co_return a + b + 1;
}

} // namespace

TEST_CASE("allocation failure: every k-th allocation of a call tree, nothing leaks") {
    constexpr int depth = 3;
    constexpr int nodes = 15; // a full binary tree of depth 3
    TreeImpl tree;
    Tree& root = tree;
    counter c;
    // A clean run tells how many frames are allocated: all 15, unless the optimizer elided some.
    int frames = 0;
    {
        failing_resource inject(&c);
        tally t;
        cotrait::frame_allocator_scope s{inject};
        CHECK(cotrait::sync_wait(root.node(depth, call_arg(&t))) == nodes);
        frames = inject.attempts;
        CHECK(t.calls == nodes);
        CHECK(t.bodies == nodes);
    }
    REQUIRE(frames >= 1);
    for (int k = 1; k <= frames + 1; ++k) {
        failing_resource inject(&c);
        inject.fail_at = k;
        tally t;
        bool threw = false;
        int result = 0;
        {
            cotrait::frame_allocator_scope s{inject};
            try {
                result = cotrait::sync_wait(root.node(depth, call_arg(&t)));
            } catch (const std::bad_alloc&) {
                threw = true;
            }
        }
        INFO("k = " << k << " of " << frames);
        CHECK(threw == (k <= frames));
        CHECK(result == (threw ? 0 : nodes));
        // Exactly one call has no body: the one whose frame could not be allocated.
        CHECK(t.bodies == t.calls - (threw ? 1 : 0));
        CHECK(t.constructed == t.destroyed);
        CHECK(c.live_bytes() == 0);
        CHECK(c.deallocations() == c.allocations());
    }
    // The first allocation fails: the call expression itself throws, before any body runs.
    failing_resource inject(&c);
    inject.fail_at = 1;
    tally t;
    {
        cotrait::frame_allocator_scope s{inject};
        CHECK_THROWS_AS(discard(root.node(depth, call_arg(&t))), std::bad_alloc);
        inject.fail_at = inject.attempts + 1;
        CHECK_THROWS_AS(discard(free_node(tree, depth, call_arg(&t))), std::bad_alloc);
    }
    CHECK(t.calls == 2);
    CHECK(t.bodies == 0);
    CHECK(t.constructed == t.destroyed);
    CHECK(c.live_bytes() == 0);
}
