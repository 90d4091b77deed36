// The default frame resource: thread-local caches of freed frames, by size class.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/recycling_cache.hpp>

#include <cstddef>
#include <cstdint>
#include <memory_resource>

namespace cotrait {

/// A `std::pmr::memory_resource` that recycles coroutine frames through per-thread size-class
/// caches (16-byte classes up to COTRAIT_RECYCLING_MAX_BLOCK bytes). A block freed on another
/// thread than the one that allocated it joins the freeing thread's cache; each thread's cache is
/// released when the thread exits. Caches are bounded per class and in total (see
/// `set_recycling_limits`); blocks that do not fit go back to the global `operator new`/`operator
/// delete`. Stateless: all instances compare equal. With COTRAIT_RECYCLING=0 (the default under
/// AddressSanitizer) it forwards every call to the global operator new/delete.
class recycling_memory_resource final : public std::pmr::memory_resource {
private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        if (alignment > detail::frame_granule) {
            return ::operator new (bytes, std::align_val_t{alignment});
        }
        return detail::cache_allocate(detail::round_to_granule(bytes == 0 ? 1 : bytes));
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
        if (alignment > detail::frame_granule) {
            ::operator delete (p, std::align_val_t{alignment});
            return;
        }
        detail::cache_deallocate(p, detail::round_to_granule(bytes == 0 ? 1 : bytes));
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
        return dynamic_cast<const recycling_memory_resource*>(&other) != nullptr;
    }
};

namespace detail {
inline recycling_memory_resource g_recycling_resource{};
} // namespace detail

/// The process-wide recycling resource, the default for every frame.
inline std::pmr::memory_resource* recycling_resource() noexcept {
    return &detail::g_recycling_resource;
}

/// A stateless standard Allocator over the same per-thread caches, for `static_task<T, A>`: the
/// frame then carries no allocation record and frees itself without an indirect call.
template <class T = std::byte>
class recycling_allocator {
public:
    using value_type = T;
    using is_always_equal = std::true_type;

    recycling_allocator() noexcept = default;
    template <class U>
    recycling_allocator(const recycling_allocator<U>& /*other*/) noexcept {}

    [[nodiscard]] T* allocate(std::size_t n) {
        static_assert(alignof(T) <= detail::frame_granule, "over-aligned value_type");
        return static_cast<T*>(detail::cache_allocate(detail::round_to_granule(n * sizeof(T))));
    }
    void deallocate(T* p, std::size_t n) noexcept {
        detail::cache_deallocate(p, detail::round_to_granule(n * sizeof(T)));
    }
    template <class U>
    friend bool operator==(const recycling_allocator& /*a*/,
                           const recycling_allocator<U>& /*b*/) noexcept {
        return true;
    }
};

/// Sets the process-wide bounds of the per-thread caches: at most `per_class` blocks per size class
/// (clamped to 65535) and `total_bytes` bytes in all. A thread's cache reads them when it first
/// comes into use, and reserves each size class's share of `total_bytes` the first time a block of
/// that size is freed; this call also empties the calling thread's cache so that the new bounds
/// apply to it at once. Threads whose cache is already in use keep their bounds (re-reading shared
/// limits on every free would cost the hot path). Thread-safe.
inline void set_recycling_limits(std::uint32_t per_class, std::size_t total_bytes) noexcept {
    per_class = per_class > 65535U ? 65535U : per_class;
    detail::g_recycling_limits.per_class.store(per_class, std::memory_order_relaxed);
    detail::g_recycling_limits.total_bytes.store(total_bytes, std::memory_order_relaxed);
    detail::drain(detail::tls_cache);
}

/// Current limits, as set by `set_recycling_limits` (defaults: 64 blocks per class, 2 MiB).
struct recycling_limits {
    std::uint32_t per_class;
    std::size_t total_bytes;
};
inline recycling_limits get_recycling_limits() noexcept {
    return {detail::g_recycling_limits.per_class.load(std::memory_order_relaxed),
            detail::g_recycling_limits.total_bytes.load(std::memory_order_relaxed)};
}

/// What the calling thread's cache holds right now.
struct recycling_cache_stats {
    std::size_t blocks = 0;
    std::size_t bytes = 0;
};
inline recycling_cache_stats this_thread_recycling_stats() noexcept {
    recycling_cache_stats s;
    const detail::thread_cache& c = detail::tls_cache;
    for (std::size_t i = 0; i < detail::recycling_classes; ++i) {
        for (void* p = c.heads[i]; p != nullptr; p = *static_cast<void**>(p)) {
            ++s.blocks;
            s.bytes += (i + 1) * detail::frame_granule;
        }
    }
    return s;
}

/// Returns every block cached by the calling thread to the global allocator.
inline void trim_this_thread_recycling_cache() noexcept {
    detail::drain(detail::tls_cache);
}

} // namespace cotrait
