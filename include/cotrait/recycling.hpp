// The default frame resource: thread-local caches of freed frames, by size class.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/recycling_cache.hpp>

#include <cstddef>
#include <cstdint>
#include <memory_resource>

namespace cotrait {

namespace detail {

// A block for `bytes` bytes of payload behind a record, from the recycling caches.
inline void* recycled_payload_allocate(std::size_t bytes) {
    if (COTRAIT_UNLIKELY(bytes > max_request_bytes)) {
        throw_bad_alloc();
    }
    return recycled_allocate(round_to_granule(bytes + sizeof(frame_record))) + 1;
}

inline void recycled_payload_free(void* p) noexcept {
    frame_record* r = static_cast<frame_record*>(p) - 1;
    if (COTRAIT_LIKELY(recycled_free_here(r, r->block))) {
        return;
    }
    recycled_free_slow(r);
}

} // namespace detail

/// A `std::pmr::memory_resource` that recycles blocks through per-thread size-class caches
/// (16-byte classes up to COTRAIT_RECYCLING_MAX_BLOCK bytes, a 16-byte record included). A block
/// goes back to the cache of the thread that allocated it, wherever it is freed: on that thread
/// with no atomic operation, from another thread through one lock-free push that the owner
/// collects in a batch when it next runs short. Caches are bounded per class and in total (see
/// `set_recycling_limits`), and grow within those bounds when a size class keeps spilling; blocks
/// that do not fit go back to the global `operator new`/`operator delete`, and each thread's cache
/// is released when the thread exits. Stateless: all instances compare equal. With
/// COTRAIT_RECYCLING=0 (the default under AddressSanitizer) every block comes from the global
/// operator new.
class recycling_memory_resource final : public std::pmr::memory_resource {
private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        if (alignment > detail::frame_granule) {
            return ::operator new (bytes, std::align_val_t{alignment});
        }
        return detail::recycled_payload_allocate(bytes);
    }
    void do_deallocate(void* p, std::size_t /*bytes*/, std::size_t alignment) override {
        if (alignment > detail::frame_granule) {
            ::operator delete (p, std::align_val_t{alignment});
            return;
        }
        detail::recycled_payload_free(p);
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
/// frame frees itself without an indirect call. Each block carries the same 16-byte record as a
/// `boxed_task` frame, which is what brings it back to its thread's cache from any other thread.
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
        if (COTRAIT_UNLIKELY(n > detail::max_request_bytes / sizeof(T))) {
            detail::throw_bad_alloc();
        }
        return static_cast<T*>(detail::recycled_payload_allocate(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t /*n*/) noexcept { detail::recycled_payload_free(p); }
    template <class U>
    friend bool operator==(const recycling_allocator& /*a*/,
                           const recycling_allocator<U>& /*b*/) noexcept {
        return true;
    }
};

/// Sets the process-wide bounds of the per-thread caches: at most `per_class` blocks per size class
/// (clamped to 65535) and `total_bytes` bytes per thread, plus as many bytes again waiting in the
/// thread's inbox (blocks other threads freed and the thread has not collected yet). A thread's
/// cache reads them when it first comes into use; a size class reserves 16 blocks of the byte
/// budget the first time a block of that size is freed, and doubles its reservation each time it
/// would otherwise give a block back to the heap, up to `per_class`. This call also empties the
/// calling thread's cache so that the new bounds apply to it at once. Threads whose cache is
/// already in use keep their bounds (re-reading shared limits on every free would cost the hot
/// path). Thread-safe.
inline void set_recycling_limits(std::uint32_t per_class, std::size_t total_bytes) noexcept {
    per_class = per_class > 65535U ? 65535U : per_class;
    detail::g_recycling_limits.per_class.store(per_class, std::memory_order_relaxed);
    detail::g_recycling_limits.total_bytes.store(total_bytes, std::memory_order_relaxed);
    detail::drain(detail::tls_cache);
}

/// Current limits, as set by `set_recycling_limits` (defaults: 1024 blocks per class, 2 MiB).
struct recycling_limits {
    std::uint32_t per_class;
    std::size_t total_bytes;
};
inline recycling_limits current_recycling_limits() noexcept {
    return {detail::g_recycling_limits.per_class.load(std::memory_order_relaxed),
            detail::g_recycling_limits.total_bytes.load(std::memory_order_relaxed)};
}

/// Deprecated name of `current_recycling_limits` (getters carry no `get_` prefix).
[[deprecated("use cotrait::current_recycling_limits()")]] inline recycling_limits
get_recycling_limits() noexcept {
    return current_recycling_limits();
}

/// What a thread's cache holds and what it has done. The counters count since the cache first came
/// into use (a thread that adopts an exited thread's inbox continues its counts).
struct recycling_cache_stats {
    std::size_t blocks = 0;               ///< blocks on the local free lists
    std::size_t bytes = 0;                ///< their bytes
    std::size_t inbox_bytes = 0;          ///< bytes freed by other threads, not yet collected
    std::uint64_t global_allocations = 0; ///< blocks taken from the global operator new
    std::uint64_t spills = 0;          ///< blocks given to the global operator delete (cache full)
    std::uint64_t remote_frees = 0;    ///< blocks of other threads freed into their inboxes
    std::uint64_t refills = 0;         ///< times a size class collected its inbox
    std::uint64_t refilled_blocks = 0; ///< blocks collected that way
};

namespace detail {
inline void add_inbox_stats(recycling_cache_stats& s, const recycling_inbox& b) noexcept {
    s.inbox_bytes += b.bytes.load(std::memory_order_relaxed);
    s.global_allocations += b.global_allocations.get();
    s.spills += b.spills.get();
    s.remote_frees += b.remote_frees.get();
    s.refills += b.refills.get();
    s.refilled_blocks += b.refilled_blocks.get();
}
} // namespace detail

/// The calling thread's cache.
inline recycling_cache_stats this_thread_recycling_stats() noexcept {
    recycling_cache_stats s;
    const detail::thread_cache& c = detail::tls_cache;
    for (std::size_t i = 0; i < detail::recycling_classes; ++i) {
        for (void* p = c.heads[i]; p != nullptr; p = *static_cast<void**>(p)) {
            ++s.blocks;
            s.bytes += (i + 1) * detail::frame_granule;
        }
    }
    if (c.inbox != nullptr) {
        detail::add_inbox_stats(s, *c.inbox);
    }
    return s;
}

/// Every thread's counters and inbox bytes added up, including threads that have exited (their
/// local lists are gone, so `blocks` and `bytes` are the calling thread's only). Takes a lock
/// shared with thread start and exit; meant for reports, not hot paths.
inline recycling_cache_stats recycling_stats() noexcept {
    recycling_cache_stats s = this_thread_recycling_stats();
    s.inbox_bytes = 0;
    s.global_allocations = s.spills = s.remote_frees = s.refills = s.refilled_blocks = 0;
    detail::inbox_registry& r = detail::g_inbox_registry;
    r.lock();
    for (const detail::recycling_inbox* b = r.all; b != nullptr; b = b->next) {
        detail::add_inbox_stats(s, *b);
    }
    r.unlock();
    return s;
}

/// Returns every block cached by the calling thread to the global allocator, including the blocks
/// other threads freed into its inbox.
inline void trim_this_thread_recycling_cache() noexcept {
    detail::drain(detail::tls_cache);
}

} // namespace cotrait
