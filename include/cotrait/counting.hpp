// A memory resource that counts what passes through it: the measuring instrument of the tests and
// benchmarks, and a way to see what a real workload's frames cost.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/new_delete.hpp>

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory_resource>
#include <type_traits>
#include <utility>

namespace cotrait {

/// A snapshot of a counting resource's totals.
struct counting_stats {
    std::uint64_t allocations = 0;       ///< successful allocate() calls
    std::uint64_t deallocations = 0;     ///< deallocate() calls
    std::uint64_t bytes_allocated = 0;   ///< sum of the sizes allocated
    std::uint64_t bytes_deallocated = 0; ///< sum of the sizes deallocated
    std::uint64_t live_bytes = 0;        ///< allocated and not yet deallocated
    std::uint64_t peak_live_bytes = 0;   ///< highest live_bytes seen
    std::uint64_t failures = 0;          ///< allocate() calls whose upstream threw

    /// Allocations not yet deallocated.
    [[nodiscard]] std::uint64_t live_allocations() const noexcept {
        return allocations - deallocations;
    }
};

/// One bucket of the size histogram: allocations of `min_bytes` to `max_bytes` bytes inclusive.
struct size_bucket {
    std::size_t min_bytes;
    std::size_t max_bytes;
    std::uint64_t count;
};

namespace detail {

// Plain or atomic counters behind one interface, so that both variants share their code.
template <bool Synchronized>
class stat_counter {
public:
    void add(std::uint64_t n) noexcept { v_ += n; }
    void sub(std::uint64_t n) noexcept { v_ -= n; }
    // Adds and returns the new value.
    std::uint64_t add_fetch(std::uint64_t n) noexcept { return v_ += n; }
    void raise_to(std::uint64_t n) noexcept {
        if (n > v_) {
            v_ = n;
        }
    }
    void store(std::uint64_t n) noexcept { v_ = n; }
    [[nodiscard]] std::uint64_t load() const noexcept { return v_; }

private:
    std::uint64_t v_ = 0;
};

template <>
class stat_counter<true> {
public:
    void add(std::uint64_t n) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    void sub(std::uint64_t n) noexcept { v_.fetch_sub(n, std::memory_order_relaxed); }
    std::uint64_t add_fetch(std::uint64_t n) noexcept {
        return v_.fetch_add(n, std::memory_order_relaxed) + n;
    }
    void raise_to(std::uint64_t n) noexcept {
        std::uint64_t cur = v_.load(std::memory_order_relaxed);
        while (n > cur && !v_.compare_exchange_weak(cur, n, std::memory_order_relaxed)) {
        }
    }
    void store(std::uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t load() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

// Upstream given as a pointer (any resource, not owned) or as a resource type (owned, built in
// place from the constructor's arguments).
template <class Upstream>
class upstream_holder {
public:
    static_assert(
        std::is_base_of_v<std::pmr::memory_resource, Upstream>,
        "counting_resource<Upstream>: Upstream must be a std::pmr::memory_resource type, or "
        "std::pmr::memory_resource* for a resource the caller owns");
    template <class... Args>
    explicit upstream_holder(Args&&... args) : r_(std::forward<Args>(args)...) {}
    Upstream& get() noexcept { return r_; }
    const Upstream& get() const noexcept { return r_; }

private:
    Upstream r_;
};

template <>
class upstream_holder<std::pmr::memory_resource*> {
public:
    upstream_holder() noexcept : r_(global_new_delete_resource()) {}
    explicit upstream_holder(std::pmr::memory_resource* r) noexcept
        : r_(r != nullptr ? r : global_new_delete_resource()) {}
    std::pmr::memory_resource& get() const noexcept { return *r_; }

private:
    std::pmr::memory_resource* r_;
};

} // namespace detail

/// A `std::pmr::memory_resource` that forwards to `Upstream` and counts allocations,
/// deallocations, bytes, live bytes, peak live bytes, failures and a size histogram.
///
/// `Upstream` is `std::pmr::memory_resource*` (the default: a resource the caller owns, passed to
/// the constructor; null or none means `cotrait::global_new_delete_resource()`), or a resource type
/// that the counting resource owns and builds from the constructor's arguments, e.g.
/// `counting_resource<std::pmr::unsynchronized_pool_resource>`.
///
/// With `Synchronized = false` (`counting_resource`) it is as thread-safe as a plain object: use it
/// from one thread at a time. With `true` (`sync_counting_resource`) every counter is a relaxed
/// atomic, so it may be used from several threads at once (as far as `Upstream` allows); a
/// `stats()` snapshot taken while other threads allocate is then not a single instant.
template <class Upstream, bool Synchronized>
class basic_counting_resource : public std::pmr::memory_resource {
public:
    /// Number of buckets of the size histogram: 16-byte steps up to 1 KiB, then powers of two up
    /// to 1 MiB, then one bucket for everything larger.
    static constexpr std::size_t histogram_size = 64 + 10 + 1;

    /// Builds the upstream from `args` (or, for a pointer upstream, takes the pointer).
    template <class... Args>
    explicit basic_counting_resource(Args&&... args) : up_(std::forward<Args>(args)...) {}
    basic_counting_resource(const basic_counting_resource&) = delete;
    basic_counting_resource& operator=(const basic_counting_resource&) = delete;
    ~basic_counting_resource() override = default;

    /// The resource that does the work.
    decltype(auto) upstream() noexcept { return up_.get(); }

    /// All totals at once.
    [[nodiscard]] counting_stats stats() const noexcept {
        counting_stats s;
        s.allocations = allocations_.load();
        s.deallocations = deallocations_.load();
        s.bytes_allocated = bytes_allocated_.load();
        s.bytes_deallocated = bytes_deallocated_.load();
        s.live_bytes = live_bytes_.load();
        s.peak_live_bytes = peak_live_bytes_.load();
        s.failures = failures_.load();
        return s;
    }
    /// Successful allocations so far.
    [[nodiscard]] std::uint64_t allocations() const noexcept { return allocations_.load(); }
    /// Deallocations so far.
    [[nodiscard]] std::uint64_t deallocations() const noexcept { return deallocations_.load(); }
    /// Bytes allocated and not yet deallocated.
    [[nodiscard]] std::uint64_t live_bytes() const noexcept { return live_bytes_.load(); }
    /// The highest `live_bytes()` seen.
    [[nodiscard]] std::uint64_t peak_live_bytes() const noexcept { return peak_live_bytes_.load(); }

    /// The histogram bucket that counts allocations of `bytes` bytes.
    static constexpr std::size_t bucket_of(std::size_t bytes) noexcept {
        if (bytes <= 1024) {
            return bytes == 0 ? 0 : (bytes - 1) / 16;
        }
        const auto width = static_cast<std::size_t>(std::bit_width(bytes - 1)); // 11 for 1025..2048
        return width > 20 ? histogram_size - 1 : 64 + (width - 11);
    }
    /// Bucket `i` of the size histogram with its bounds.
    [[nodiscard]] size_bucket bucket(std::size_t i) const noexcept {
        size_bucket b{0, 0, i < histogram_size ? histogram_[i].load() : 0};
        if (i < 64) {
            b.min_bytes = i == 0 ? 0 : i * 16 + 1;
            b.max_bytes = (i + 1) * 16;
        } else if (i < histogram_size - 1) {
            b.min_bytes = (std::size_t{1024} << (i - 64)) + 1;
            b.max_bytes = std::size_t{2048} << (i - 64);
        } else {
            b.min_bytes = (std::size_t{1} << 20) + 1;
            b.max_bytes = std::numeric_limits<std::size_t>::max();
        }
        return b;
    }
    /// How many allocations fell in the bucket of `bytes`.
    [[nodiscard]] std::uint64_t allocations_of_size(std::size_t bytes) const noexcept {
        return histogram_[bucket_of(bytes)].load();
    }

    /// Zeroes every count; live bytes stay (they describe memory still out) and become the peak.
    void reset_stats() noexcept {
        allocations_.store(0);
        deallocations_.store(0);
        bytes_allocated_.store(0);
        bytes_deallocated_.store(0);
        failures_.store(0);
        peak_live_bytes_.store(live_bytes_.load());
        for (auto& h : histogram_) {
            h.store(0);
        }
    }

private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        void* p = nullptr;
#if COTRAIT_EXCEPTIONS
        try {
            p = up_.get().allocate(bytes, alignment);
        } catch (...) {
            failures_.add(1);
            throw;
        }
#else
        p = up_.get().allocate(bytes, alignment);
#endif
        allocations_.add(1);
        bytes_allocated_.add(bytes);
        histogram_[bucket_of(bytes)].add(1);
        peak_live_bytes_.raise_to(live_bytes_.add_fetch(bytes));
        return p;
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
        deallocations_.add(1);
        bytes_deallocated_.add(bytes);
        live_bytes_.sub(bytes);
        up_.get().deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
        return this == &other;
    }

    detail::upstream_holder<Upstream> up_;
    detail::stat_counter<Synchronized> allocations_;
    detail::stat_counter<Synchronized> deallocations_;
    detail::stat_counter<Synchronized> bytes_allocated_;
    detail::stat_counter<Synchronized> bytes_deallocated_;
    detail::stat_counter<Synchronized> live_bytes_;
    detail::stat_counter<Synchronized> peak_live_bytes_;
    detail::stat_counter<Synchronized> failures_;
    std::array<detail::stat_counter<Synchronized>, histogram_size> histogram_{};
};

/// Counting resource for use from one thread at a time (see basic_counting_resource).
template <class Upstream = std::pmr::memory_resource*>
using counting_resource = basic_counting_resource<Upstream, false>;

/// Thread-safe counting resource: relaxed atomic counters (see basic_counting_resource).
template <class Upstream = std::pmr::memory_resource*>
using sync_counting_resource = basic_counting_resource<Upstream, true>;

/// Deprecated name of `counting_resource` (a resource's name ends in `_resource`).
template <class Upstream = std::pmr::memory_resource*>
using counting [[deprecated("use cotrait::counting_resource")]] =
    basic_counting_resource<Upstream, false>;

/// Deprecated name of `sync_counting_resource`.
template <class Upstream = std::pmr::memory_resource*>
using sync_counting [[deprecated("use cotrait::sync_counting_resource")]] =
    basic_counting_resource<Upstream, true>;

} // namespace cotrait
