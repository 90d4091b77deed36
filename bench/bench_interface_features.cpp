// Per-call cost of the interface features of issue 13, each next to its baseline in the same run:
//   - a plain (non-async) virtual call, in a plain loop and in the loop of a coroutine (the
//     harness of the async rows): the floor a ready value is compared against;
//   - a cache hit through a virtual async method, answered with cotrait::ready (no frame) and,
//     for comparison, with a one-line `co_return` coroutine (one frame);
//   - a call forwarded by one cotrait::forwarding layer, and by a chain of three, against the
//     same call made on the implementation directly;
//   - the same call through cotrait::instrumented (counters, timing, its own frame, and the
//     inner frame from the decorator's counting resource), against the direct call.
// Every awaiting loop runs inside one coroutine driven by sync_wait. The objects are created
// behind noinline factories and laundered through DoNotOptimize so that the compiler cannot see
// their dynamic type and devirtualize the calls (GCC's speculative devirtualization is also off
// for the bench targets, bench/CMakeLists.txt).
#include <cotrait/boxed_task.hpp>
#include <cotrait/instrumented.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/ready.hpp>
#include <cotrait/sync_wait.hpp>

#include <benchmark/benchmark.h>

#include <memory>

// Outside the anonymous namespace: another translation unit could derive from it, so GCC cannot
// conclude from the closed class hierarchy that PlainImpl::get is the only target (it did, and
// measured an inlined call as the "plain virtual call").
namespace bench_features {
struct PlainLookup {
    PlainLookup() = default;
    PlainLookup(const PlainLookup&) = delete;
    PlainLookup& operator=(const PlainLookup&) = delete;
    virtual ~PlainLookup() = default;
    virtual int get(int key) = 0;
};
} // namespace bench_features

namespace {

using bench_features::PlainLookup;

ASYNC_INTERFACE(Lookup, (get, (int), ((int)key)));

struct PlainImpl final : PlainLookup {
    int get(int key) override { return key + 1; }
};

struct ReadyImpl final : Lookup {
    cotrait::boxed_task<int> get(int key) override { return cotrait::ready(key + 1); }
};

struct CoroutineImpl final : Lookup {
    cotrait::boxed_task<int> get(int key) override { co_return key + 1; }
};

// Hides the dynamic type from the optimizer, so that every call below is a real indirect call. A
// noinline function that returns its argument is not enough: GCC's interprocedural analysis sees
// through it and devirtualized (and inlined) the plain call, which then measured 0.38 ns. A value
// read back from a volatile object is unknown to the compiler.
template <class T>
T* launder_ptr(T* p) {
    static T* volatile slot = nullptr;
    slot = p;
    return slot;
}

template <class Body>
void in_coroutine(benchmark::State& state, Body body) {
    cotrait::sync_wait(body(state));
}

// ---- ready values --------------------------------------------------------------------------
void BM_plain_virtual_call(benchmark::State& state) {
    PlainImpl impl;
    PlainLookup* l = launder_ptr<PlainLookup>(&impl);
    int k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(l->get(k++));
    }
}

// The same plain virtual call made from the loop of a coroutine, the harness of the rows below.
void BM_plain_virtual_call_in_coroutine(benchmark::State& state) {
    PlainImpl impl;
    PlainLookup* l = launder_ptr<PlainLookup>(&impl);
    in_coroutine(state, [l](benchmark::State& s) -> cotrait::boxed_task<> {
        int k = 0;
        for (auto _ : s) {
            benchmark::DoNotOptimize(l->get(k++));
        }
        co_return;
    });
}

void BM_ready_value_via_virtual(benchmark::State& state) {
    ReadyImpl impl;
    Lookup* l = launder_ptr<Lookup>(&impl);
    in_coroutine(state, [l](benchmark::State& s) -> cotrait::boxed_task<> {
        int k = 0;
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await l->get(k++));
        }
    });
}

void BM_co_return_via_virtual(benchmark::State& state) {
    CoroutineImpl impl;
    Lookup* l = launder_ptr<Lookup>(&impl);
    in_coroutine(state, [l](benchmark::State& s) -> cotrait::boxed_task<> {
        int k = 0;
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await l->get(k++));
        }
    });
}

// ---- forwarding ----------------------------------------------------------------------------
// state.range(0): forwarding layers between the caller and the coroutine implementation.
void BM_forwarded_call(benchmark::State& state) {
    CoroutineImpl impl;
    std::unique_ptr<Lookup> chain;
    Lookup* top = &impl;
    for (long i = 0; i < state.range(0); ++i) {
        chain = std::make_unique<cotrait::forwarding<Lookup, std::unique_ptr<Lookup>>>(
            chain ? std::move(chain) : std::make_unique<cotrait::forwarding<Lookup>>(impl));
        top = chain.get();
    }
    Lookup* l = launder_ptr<Lookup>(top);
    in_coroutine(state, [l](benchmark::State& s) -> cotrait::boxed_task<> {
        int k = 0;
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await l->get(k++));
        }
    });
}

// ---- instrumentation ----------------------------------------------------------------------
void BM_instrumented_call(benchmark::State& state) {
    CoroutineImpl impl;
    cotrait::instrumented<Lookup> counted(impl);
    Lookup* l = launder_ptr<Lookup>(&counted);
    in_coroutine(state, [l](benchmark::State& s) -> cotrait::boxed_task<> {
        int k = 0;
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await l->get(k++));
        }
    });
}

} // namespace

BENCHMARK(BM_plain_virtual_call);
BENCHMARK(BM_plain_virtual_call_in_coroutine);
BENCHMARK(BM_ready_value_via_virtual);
BENCHMARK(BM_co_return_via_virtual);
BENCHMARK(BM_forwarded_call)->Arg(0)->Arg(1)->Arg(3)->ArgName("layers");
BENCHMARK(BM_instrumented_call);

BENCHMARK_MAIN();
