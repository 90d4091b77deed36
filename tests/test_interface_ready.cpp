// cotrait::ready / ready_error: boxed_tasks holding an already-known outcome, without a frame.
#include <cotrait/boxed_task.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/ready.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/task_error.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

// Counts the aligned allocations, the ones the ready-box cache falls back to, so that the steady
// state can be shown to allocate nothing. Clang's static TSan runtime defines these operators
// itself (a replacement would not link), so there the check is skipped.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COTRAIT_TEST_NO_NEW_REPLACEMENT 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define COTRAIT_TEST_NO_NEW_REPLACEMENT 1
#endif

namespace {
std::atomic<long> g_aligned_news{0};
}
#if !defined(COTRAIT_TEST_NO_NEW_REPLACEMENT)
void* operator new(std::size_t n, std::align_val_t a) {
    g_aligned_news.fetch_add(1, std::memory_order_relaxed);
    const std::size_t al = static_cast<std::size_t>(a);
    void* p = std::aligned_alloc(al, (n + al - 1) / al * al);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}
void operator delete(void* p, std::align_val_t /*a*/) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t /*n*/, std::align_val_t /*a*/) noexcept {
    std::free(p);
}
#endif

namespace rdy {

ASYNC_INTERFACE(Lookup, (get, (std::optional<std::string>), ((int)key)),
                (get_ref, (int&), ((int)key)), (touch, (void), ((int)key)));

// Answers hits with ready values and misses with a coroutine.
class CachedLookup final : public Lookup {
public:
    std::map<int, std::string> cache;
    std::map<int, int> numbers;
    int misses = 0;

    cotrait::boxed_task<std::optional<std::string>> get(int key) override {
        if (auto it = cache.find(key); it != cache.end()) {
            return cotrait::ready(std::optional<std::string>(it->second));
        }
        if (key < 0) {
            return cotrait::ready_error(std::out_of_range("negative key"));
        }
        return miss(key);
    }
    cotrait::boxed_task<int&> get_ref(int key) override {
        return cotrait::ready(std::ref(numbers[key]));
    }
    cotrait::boxed_task<void> touch(int /*key*/) override { return cotrait::ready(); }

private:
    cotrait::boxed_task<std::optional<std::string>> miss(int key) {
        ++misses;
        cache[key] = std::to_string(key);
        co_return std::to_string(key);
    }
};

struct tracked {
    static inline int alive = 0;
    int v;
    explicit tracked(int x) : v(x) { ++alive; }
    tracked(const tracked& o) : v(o.v) { ++alive; }
    tracked(tracked&& o) noexcept : v(o.v) { ++alive; }
    tracked& operator=(const tracked&) = delete;
    tracked& operator=(tracked&&) = delete;
    ~tracked() { --alive; }
};

struct throws_on_move {
    throws_on_move() = default;
    throws_on_move(const throws_on_move&) { throw std::runtime_error("copy"); }
    throws_on_move(throws_on_move&&) { throw std::runtime_error("move"); } // NOLINT
    throws_on_move& operator=(const throws_on_move&) = delete;
    throws_on_move& operator=(throws_on_move&&) = delete;
    ~throws_on_move() = default;
};

cotrait::boxed_task<int> add(cotrait::boxed_task<int> a, int b) {
    co_return co_await a + b;
}

} // namespace rdy

using rdy::CachedLookup;

TEST_CASE("a boxed_task stays one pointer") {
    STATIC_REQUIRE(sizeof(cotrait::boxed_task<int>) == sizeof(void*));
    STATIC_REQUIRE(sizeof(cotrait::boxed_task<std::string>) == sizeof(void*));
    STATIC_REQUIRE(sizeof(cotrait::boxed_task<void>) == sizeof(void*));
    STATIC_REQUIRE(sizeof(cotrait::boxed_task<int&>) == sizeof(void*));
}

TEST_CASE("a ready value is valid, done, and awaited without a frame") {
    cotrait::boxed_task<int> t = cotrait::ready(41);
    CHECK(t.valid());
    CHECK(t.done());
    CHECK(t.is_ready_value());
    CHECK(cotrait::sync_wait(rdy::add(std::move(t), 1)) == 42);
    CHECK_FALSE(t.valid()); // NOLINT(bugprone-use-after-move): moved-from is empty
    CHECK(cotrait::measure_frames([] {
              return cotrait::boxed_task<int>(cotrait::ready(1));
          }).frames == 0);
    // Converting: the ready value's type need only construct T.
    cotrait::boxed_task<std::string> s = cotrait::ready("abc");
    CHECK(cotrait::sync_wait(std::move(s)) == "abc");
    cotrait::boxed_task<long> l = cotrait::ready(7);
    CHECK(cotrait::sync_wait(std::move(l)) == 7L);
}

TEST_CASE("a cache hit through a virtual method costs no frame") {
    CachedLookup impl;
    rdy::Lookup& lookup = impl;
    CHECK(cotrait::sync_wait(lookup.get(3)) == std::optional<std::string>("3"));
    CHECK(impl.misses == 1);
    CHECK(cotrait::sync_wait(lookup.get(3)) == std::optional<std::string>("3"));
    CHECK(impl.misses == 1);
    CHECK(cotrait::measure_frames([&] { return lookup.get(3); }).frames == 0);
    CHECK(cotrait::measure_frames([&] { return lookup.get(4); }).frames == 1);
    CHECK(cotrait::measure_frames([&] { return lookup.touch(4); }).frames == 0);
    // Through a forwarding layer as well.
    cotrait::forwarding<rdy::Lookup> fwd(lookup);
    CHECK(cotrait::measure_frames([&] { return fwd.get(3); }).frames == 0);
}

TEST_CASE("ready references and void") {
    CachedLookup impl;
    int& r = cotrait::sync_wait(impl.get_ref(5));
    r = 9;
    CHECK(impl.numbers.at(5) == 9);
    cotrait::sync_wait(impl.touch(1));
    cotrait::boxed_task<void> v = cotrait::ready();
    CHECK(v.is_ready_value());
    cotrait::sync_wait(std::move(v));
}

TEST_CASE("ready_error rethrows at the await") {
    CachedLookup impl;
    CHECK_THROWS_AS(cotrait::sync_wait(impl.get(-1)), std::out_of_range);
    cotrait::boxed_task<void> v = cotrait::ready_error(std::runtime_error("x"));
    CHECK(v.done());
    CHECK_THROWS_AS(cotrait::sync_wait(std::move(v)), std::runtime_error);
    cotrait::boxed_task<int&> r =
        cotrait::ready_error(std::make_exception_ptr(std::logic_error("y")));
    CHECK_THROWS_AS(cotrait::sync_wait(std::move(r)), std::logic_error);
    // An empty exception_ptr would be undefined behaviour to rethrow: rejected up front.
    CHECK_THROWS_AS(cotrait::ready_error(std::exception_ptr()), std::invalid_argument);
}

TEST_CASE("a ready task has one consumer") {
    cotrait::boxed_task<int> t = cotrait::ready(1);
    auto twice = [](cotrait::boxed_task<int>& task) -> cotrait::boxed_task<int> {
        const int a = co_await task;
        const int b = co_await task;
        co_return a + b;
    };
    try {
        cotrait::sync_wait(twice(t));
        FAIL("the second await did not throw");
    } catch (const cotrait::task_misuse& e) {
        CHECK(e.code() == cotrait::task_errc::already_awaited);
    }
    cotrait::boxed_task<int> empty;
    CHECK_THROWS_AS(cotrait::sync_wait(std::move(empty)), cotrait::task_misuse);
}

TEST_CASE("a ready value is destroyed with its task, awaited or not") {
    REQUIRE(rdy::tracked::alive == 0);
    {
        cotrait::boxed_task<rdy::tracked> t = cotrait::ready(rdy::tracked(1));
        CHECK(rdy::tracked::alive == 1);
        cotrait::boxed_task<rdy::tracked> moved = std::move(t);
        CHECK(rdy::tracked::alive == 1);
        t = std::move(moved); // move-assign back
        CHECK(rdy::tracked::alive == 1);
    }
    CHECK(rdy::tracked::alive == 0);
    {
        cotrait::boxed_task<rdy::tracked> t = cotrait::ready(rdy::tracked(2));
        CHECK(cotrait::sync_wait(std::move(t)).v == 2);
    }
    CHECK(rdy::tracked::alive == 0);
    // Move-only values.
    cotrait::boxed_task<std::unique_ptr<int>> u = cotrait::ready(std::make_unique<int>(3));
    CHECK(*cotrait::sync_wait(std::move(u)) == 3);
}

TEST_CASE("a value whose move throws leaves nothing behind") {
    rdy::throws_on_move v;
    auto make = [&]() -> cotrait::boxed_task<rdy::throws_on_move> {
        return cotrait::ready_value<rdy::throws_on_move&>{v};
    };
    CHECK_THROWS_AS(make(), std::runtime_error);
}

TEST_CASE("ready values in combinators and across threads") {
    auto [a, b] = cotrait::sync_wait(cotrait::when_all(
        cotrait::boxed_task<int>(cotrait::ready(1)), cotrait::boxed_task<int>(cotrait::ready(2))));
    CHECK(a + b == 3);
    // Created on this thread, destroyed (unawaited) or awaited on another.
    std::vector<cotrait::boxed_task<int>> tasks;
    for (int i = 0; i < 100; ++i) {
        tasks.push_back(cotrait::ready(i));
    }
    int sum = 0;
    std::thread th([&] {
        for (int i = 0; i < 50; ++i) {
            sum += cotrait::sync_wait(std::move(tasks[static_cast<std::size_t>(i)]));
        }
        tasks.clear();
    });
    th.join();
    CHECK(sum == 49 * 50 / 2);
}

TEST_CASE("the steady state of ready values allocates nothing") {
#if defined(COTRAIT_TEST_NO_NEW_REPLACEMENT)
    SKIP("operator new cannot be replaced under this sanitizer");
#endif
    // Warm the thread's cache, then count.
    for (int i = 0; i < 4; ++i) {
        cotrait::boxed_task<int> t = cotrait::ready(i);
    }
    const long before = g_aligned_news.load();
    long sum = 0;
    for (int i = 0; i < 1000; ++i) {
        cotrait::boxed_task<int> t = cotrait::ready(i);
        sum += cotrait::sync_wait(std::move(t));
    }
    CHECK(sum == 999L * 1000 / 2);
    CHECK(g_aligned_news.load() == before);
}
