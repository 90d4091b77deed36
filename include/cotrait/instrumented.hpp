// cotrait::instrumented<I, Inner>: a decorator of any COTRAIT_INTERFACE that records, per async
// method, calls, failures, calls in flight, a latency histogram and the frames the inner call
// allocates, and prints them as a table. docs/interfaces.md, "Instrumentation".
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/counting.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/recycling.hpp>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace cotrait {

/// Latency buckets: bucket b counts calls that took [2^(b-1), 2^b) nanoseconds (bucket 0: 0 ns).
inline constexpr std::size_t latency_buckets = 64;

/// A snapshot of what cotrait::instrumented recorded for one async method.
struct method_stats {
    method_info info{};
    std::uint64_t calls = 0;     ///< calls made (counted when the method is called)
    std::uint64_t failures = 0;  ///< calls whose task completed with an exception
    std::uint64_t in_flight = 0; ///< calls started (first resumed) and not yet finished
    std::uint64_t completed = 0; ///< calls finished (successfully or not), in the histogram
    std::uint64_t frames = 0;    ///< frames the inner calls allocated when called
    std::uint64_t bytes = 0;     ///< bytes of those frames (blocks with their records)
    std::uint64_t max_ns = 0;    ///< slowest completed call
    std::array<std::uint64_t, latency_buckets> histogram{}; ///< completed calls by log2(ns)

    /// Upper bound (ns) of the bucket holding quantile `q` (0 < q <= 1) of the completed
    /// calls, capped at max_ns; 0 without completed calls.
    [[nodiscard]] std::uint64_t quantile_ns(double q) const noexcept {
        if (completed == 0) {
            return 0;
        }
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(completed));
        if (static_cast<double>(rank) < q * static_cast<double>(completed)) {
            ++rank; // ceil: the call at or above the quantile
        }
        rank = rank == 0 ? 1 : rank;
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < latency_buckets; ++b) {
            seen += histogram[b];
            if (seen >= rank) {
                const std::uint64_t upper = b == 0 ? 0 : (std::uint64_t{1} << (b - 1)) * 2 - 1;
                return upper < max_ns ? upper : max_ns;
            }
        }
        return max_ns;
    }
};

namespace detail {

// The live counters of one method. Relaxed atomics: each counter is independent, and a report
// taken while calls run is a best-effort snapshot.
struct method_counters {
    method_counters() =
        default; // not an aggregate: the counting resource's constructor is explicit
    std::atomic<std::uint64_t> calls{0};
    std::atomic<std::uint64_t> failures{0};
    std::atomic<std::uint64_t> in_flight{0};
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::uint64_t> max_ns{0};
    std::array<std::atomic<std::uint64_t>, latency_buckets> histogram{};
    // The frame resource of this method's inner calls: counts them, then takes the blocks from
    // the recycling resource (the default for frames), so that the inner frame still comes from
    // the thread's cache. Frames are freed back here, so the decorator must outlive its tasks.
    sync_counting_resource<> frames{recycling_resource()};

    void record(std::uint64_t ns) noexcept {
        histogram[static_cast<std::size_t>(std::bit_width(ns))].fetch_add(
            1, std::memory_order_relaxed);
        std::uint64_t seen = max_ns.load(std::memory_order_relaxed);
        while (seen < ns && !max_ns.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
        }
        completed.fetch_add(1, std::memory_order_relaxed);
    }
};

// The decorator's own coroutine: times the inner task from this frame's first resume to its
// completion and counts it in flight meanwhile. Its frame is the one frame the decorator adds.
template <class Task>
Task instrument_call(Task inner, method_counters* c) {
    struct in_flight_guard {
        method_counters* c;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        explicit in_flight_guard(method_counters* m) noexcept : c(m) {
            c->in_flight.fetch_add(1, std::memory_order_relaxed);
        }
        in_flight_guard(const in_flight_guard&) = delete;
        in_flight_guard& operator=(const in_flight_guard&) = delete;
        // Also runs when the task is destroyed before completing: the call is no longer in
        // flight, and its time so far is recorded.
        ~in_flight_guard() {
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count();
            c->record(ns < 0 ? 0 : static_cast<std::uint64_t>(ns));
            c->in_flight.fetch_sub(1, std::memory_order_relaxed);
        }
    };
    in_flight_guard guard(c);
#if COTRAIT_EXCEPTIONS
    try {
#endif
        if constexpr (std::is_void_v<typename Task::value_type>) {
            co_await std::move(inner);
        } else {
            co_return co_await std::move(inner);
        }
#if COTRAIT_EXCEPTIONS
    } catch (...) {
        c->failures.fetch_add(1, std::memory_order_relaxed);
        throw;
    }
#endif
}

// The hook the generated override builds around one call (interface.hpp, call_hooked): counts
// the call, routes the inner call's frame to the method's counting resource, and wraps the
// inner task.
class instrument_hook {
public:
    explicit instrument_hook(method_counters& c) : c_(&c) {
        c.calls.fetch_add(1, std::memory_order_relaxed);
        scope_.emplace(c.frames);
    }
    instrument_hook(const instrument_hook&) = delete;
    instrument_hook& operator=(const instrument_hook&) = delete;
    // Without finish(), the call to the inner method threw (a non-coroutine override that throws
    // before returning a task): a failure of that call.
    ~instrument_hook() {
        if (scope_) {
            c_->failures.fetch_add(1, std::memory_order_relaxed);
        }
    }

    template <class Task>
    Task finish(Task inner) {
        scope_.reset(); // the decorator's own frame is not the inner call's
        return instrument_call<Task>(std::move(inner), c_);
    }

private:
    method_counters* c_;
    std::optional<frame_allocator_scope> scope_;
};

template <class I, class Inner>
struct instrument_to;

template <class I, class Inner>
struct hooked_storage<instrument_to<I, Inner>> : std::true_type {};

// cotrait::instrumented's storage: the inner interface as cotrait::forwarding keeps it, and one
// set of counters per async method of I.
template <class I, class Inner>
class impl_storage<instrument_to<I, Inner>> : public impl_storage<forward_to<Inner>> {
public:
    using impl_storage<forward_to<Inner>>::impl_storage;

    template <class Top, class M>
    instrument_hook enter() const {
        constexpr std::size_t i = method_position<Top, M>();
        static_assert(i < async_methods_v<I>.size(), "cotrait::instrumented: unknown method");
        return instrument_hook(counters_[i]);
    }

    const std::array<method_counters, async_methods_v<I>.size()>& counters() const noexcept {
        return counters_;
    }

private:
    // Mutable: a const async method counts its calls too.
    mutable std::array<method_counters, async_methods_v<I>.size()> counters_;
};

} // namespace detail

/// A decorator of the interface `I` that forwards every async method to an inner `I` (held as
/// `Inner`, as cotrait::forwarding holds it: `I&`, `std::unique_ptr<I>`, `std::shared_ptr<I>`)
/// and records per method: calls, failures (the task completed with an exception), calls in
/// flight, a log2 latency histogram (from the call's first resume to its completion) and the
/// frames and bytes the inner call allocated when called. Each call costs one coroutine frame of
/// the decorator (the timing wrapper) on top of the inner call's. The counters are relaxed
/// atomics: the decorator may be called from several threads. The decorator must outlive the
/// tasks it returns (their frames update its counters; the inner frames are freed to it).
/// See docs/interfaces.md, "Instrumentation".
template <class I, class Inner = I&>
class instrumented : public I::template cotrait_layer<I, detail::instrument_to<I, Inner>> {
    static_assert(std::is_base_of_v<async_interface, I>,
                  "cotrait::instrumented<I, Inner>: I must be declared with COTRAIT_INTERFACE");
    using cotrait_base = typename I::template cotrait_layer<I, detail::instrument_to<I, Inner>>;
    using cotrait_inner_type = typename cotrait_base::cotrait_impl_type;
    static_assert(std::is_base_of_v<I, cotrait_inner_type> && !std::is_const_v<cotrait_inner_type>,
                  "cotrait::instrumented<I, Inner>: Inner must refer to a mutable I (I&, "
                  "std::unique_ptr<I>, std::shared_ptr<I>)");

public:
    /// Wraps `inner` (referred to when `Inner` is a reference, else moved in). Construction from
    /// a null owner throws std::invalid_argument.
    explicit instrumented(Inner inner) : cotrait_base(std::in_place, static_cast<Inner&&>(inner)) {}

    /// The wrapped interface.
    cotrait_inner_type& cotrait_inner() noexcept { return this->cotrait_impl(); }
    /// The wrapped interface.
    const cotrait_inner_type& cotrait_inner() const noexcept { return this->cotrait_impl(); }

    /// A snapshot of every method's counters, in async_methods_v<I> order. (Named with the
    /// reserved prefix so that it cannot hide an async method of I.)
    [[nodiscard]] std::vector<method_stats> cotrait_stats() const {
        std::vector<method_stats> out;
        const auto& table = this->cotrait_storage().counters();
        out.reserve(table.size());
        for (std::size_t i = 0; i < table.size(); ++i) {
            const detail::method_counters& c = table[i];
            method_stats s;
            s.info = async_methods_v<I>[i];
            s.calls = c.calls.load(std::memory_order_relaxed);
            s.failures = c.failures.load(std::memory_order_relaxed);
            s.in_flight = c.in_flight.load(std::memory_order_relaxed);
            s.completed = c.completed.load(std::memory_order_relaxed);
            s.max_ns = c.max_ns.load(std::memory_order_relaxed);
            for (std::size_t b = 0; b < latency_buckets; ++b) {
                s.histogram[b] = c.histogram[b].load(std::memory_order_relaxed);
            }
            const counting_stats f = c.frames.stats();
            s.frames = f.allocations;
            s.bytes = f.bytes_allocated;
            out.push_back(s);
        }
        return out;
    }

    /// Prints cotrait_stats() as a table (see print_stats).
    void cotrait_report(std::ostream& os) const;
};

namespace detail {
inline std::string format_ns(std::uint64_t ns) {
    const char* unit = "ns";
    double v = static_cast<double>(ns);
    if (ns >= 1'000'000'000) {
        v /= 1e9;
        unit = "s";
    } else if (ns >= 1'000'000) {
        v /= 1e6;
        unit = "ms";
    } else if (ns >= 1'000) {
        v /= 1e3;
        unit = "us";
    } else {
        return std::to_string(ns) + "ns";
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%s", v, unit);
    return buf;
}

inline std::string format_ratio(std::uint64_t num, std::uint64_t den) {
    if (den == 0) {
        return "-";
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(num) / static_cast<double>(den));
    return buf;
}
} // namespace detail

/// Prints one line per method:
///     method  calls  failures  in-flight  p50  p99  max  frames/call  bytes/call
/// Latency quantiles are the upper bounds of their log2 buckets (capped at max); frames/call
/// and bytes/call divide the inner calls' frames by the calls.
inline void print_stats(std::ostream& os, const std::vector<method_stats>& rows) {
    std::vector<std::array<std::string, 9>> cells;
    cells.push_back({"method", "calls", "failures", "in-flight", "p50", "p99", "max", "frames/call",
                     "bytes/call"});
    for (const method_stats& r : rows) {
        std::string name(r.info.interface);
        name += "::";
        name += r.info.name;
        cells.push_back({name, std::to_string(r.calls), std::to_string(r.failures),
                         std::to_string(r.in_flight), detail::format_ns(r.quantile_ns(0.50)),
                         detail::format_ns(r.quantile_ns(0.99)), detail::format_ns(r.max_ns),
                         detail::format_ratio(r.frames, r.calls),
                         detail::format_ratio(r.bytes, r.calls)});
    }
    std::array<std::size_t, 9> width{};
    for (const auto& row : cells) {
        for (std::size_t c = 0; c < row.size(); ++c) {
            width[c] = row[c].size() > width[c] ? row[c].size() : width[c];
        }
    }
    for (const auto& row : cells) {
        for (std::size_t c = 0; c < row.size(); ++c) {
            const std::string pad(width[c] - row[c].size(), ' ');
            // The method name left-aligned, numbers right-aligned.
            os << (c == 0 ? row[c] + pad : pad + row[c]) << (c + 1 == row.size() ? "\n" : "  ");
        }
    }
}

template <class I, class Inner>
void instrumented<I, Inner>::cotrait_report(std::ostream& os) const {
    print_stats(os, cotrait_stats());
}

} // namespace cotrait
