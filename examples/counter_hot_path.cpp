// A hot-path Counter: the cost of one call made four ways, measured here (ns/call, no assertions).
//   sync      a plain virtual function returning int (no coroutine at all)
//   static    a static implementation's static_task, called directly (no virtual dispatch)
//   boxed     a class deriving from the interface, overriding with a boxed_task coroutine
//   adapter   the static implementation through cotrait::adapter (virtual call, adopted frame)
// Every call is awaited from one outer coroutine, as an async caller would.
#include <cotrait/cotrait.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <type_traits>

// clang-format off
ASYNC_INTERFACE(Counter,
    (add, (std::int64_t), ((std::int64_t) step)));
// clang-format on

struct SyncCounter {
    virtual ~SyncCounter() = default;
    virtual std::int64_t add(std::int64_t step) = 0;
};
struct SyncImpl final : SyncCounter {
    std::int64_t value = 0;
    std::int64_t add(std::int64_t step) override { return value += step; }
};

struct StaticCounter {
    std::int64_t value = 0;
    cotrait::static_task<std::int64_t> add(std::int64_t step) { co_return value += step; }
};

struct BoxedCounter final : Counter {
    std::int64_t value = 0;
    cotrait::boxed_task<std::int64_t> add(std::int64_t step) override { co_return value += step; }
};

#if defined(NDEBUG)
constexpr std::int64_t calls = 2'000'000;
#else
constexpr std::int64_t calls = 50'000; // debug and sanitizer builds: keep the run short
#endif

template <class C>
cotrait::boxed_task<std::int64_t> drive(C& counter) {
    std::int64_t last = 0;
    for (std::int64_t i = 0; i < calls; ++i) {
        if constexpr (std::is_base_of_v<SyncCounter, C>) {
            last = counter.add(1);
        } else {
            last = co_await counter.add(1);
        }
    }
    co_return last;
}

template <class C>
double ns_per_call(const char* label, C& counter) {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t last = cotrait::sync_wait(drive(counter));
    const auto stop = std::chrono::steady_clock::now();
    const double ns = std::chrono::duration<double, std::nano>(stop - start).count() / calls;
    std::printf("  %-8s %7.2f ns/call   (final value %lld)\n", label, ns,
                static_cast<long long>(last));
    return ns;
}

int main() {
    SyncImpl sync_impl;
    StaticCounter static_impl;
    BoxedCounter boxed_impl;
    cotrait::adapter<Counter, StaticCounter> adapted{StaticCounter{}};
    // Through references to the base, so the compiler cannot devirtualise.
    SyncCounter& sync = sync_impl;
    Counter& boxed = boxed_impl;
    Counter& adapter = adapted;

    std::printf("Counter::add, %lld calls each, awaited in a loop\n",
                static_cast<long long>(calls));
    for (int round = 0; round < 2; ++round) { // the first round warms caches and frame recycling
        std::printf("round %d\n", round + 1);
        ns_per_call("sync", sync);
        ns_per_call("static", static_impl);
        ns_per_call("boxed", boxed);
        ns_per_call("adapter", adapter);
    }
    const cotrait::frame_usage per_call[] = {
        cotrait::measure_frames([&] { return static_impl.add(1); }),
        cotrait::measure_frames([&] { return boxed.add(1); }),
        cotrait::measure_frames([&] { return adapter.add(1); }),
    };
    std::printf("frames/call: static %zu (%zu B), boxed %zu (%zu B), adapter %zu (%zu B)\n",
                per_call[0].frames, per_call[0].bytes, per_call[1].frames, per_call[1].bytes,
                per_call[2].frames, per_call[2].bytes);
    return per_call[2].frames == 1 ? 0 : 1;
}
