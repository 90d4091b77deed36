// Per-thread caches of freed coroutine-frame blocks, by 16-byte size class.
#pragma once

#include <cotrait/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace cotrait::detail {

inline constexpr std::size_t frame_granule = 16;

constexpr std::size_t round_to_granule(std::size_t n) noexcept {
    return (n + frame_granule - 1) & ~(frame_granule - 1);
}

inline void global_free(void* p, [[maybe_unused]] std::size_t n) noexcept {
#if COTRAIT_SIZED_DEALLOCATION
    ::operator delete(p, n);
#else
    ::operator delete(p);
#endif
}

// Process-wide limits. A thread copies them into its cache when the cache comes into use.
struct recycling_limits {
    std::atomic<std::uint32_t> per_class{64};
    std::atomic<std::size_t> total_bytes{std::size_t{2} << 20};
};
inline constinit recycling_limits g_recycling_limits{};

inline constexpr std::size_t recycling_classes = COTRAIT_RECYCLING_MAX_BLOCK / frame_granule;
static_assert(COTRAIT_RECYCLING_MAX_BLOCK % frame_granule == 0);

enum class cache_state : unsigned char { unarmed, armed, closed };

// Trivially constructible and destructible so that access is a plain TLS offset (no guard, no
// wrapper call) and the storage stays usable while the thread's destructors run.
//
// Bounds cost one counter on the hot path: `room[i]` is how many more blocks class i may take.
// A class gets its capacity (at most the per-class limit) reserved from the thread's byte budget
// the first time a block of that size is freed, so the cached total can never exceed the budget.
// Everything is zero until the cache is armed and after it is closed, which sends frees down the
// slow path.
struct thread_cache {
    void* heads[recycling_classes];
    std::uint16_t room[recycling_classes];
    std::uint16_t capacity[recycling_classes];
    std::size_t unreserved; // bytes of budget not yet given to a class
    cache_state state;
};
inline constinit thread_local thread_cache tls_cache{};

inline constexpr std::size_t class_of(std::size_t block) noexcept {
    return block / frame_granule - 1;
}

inline void reset_reservations(thread_cache& c, std::size_t total) noexcept {
    for (std::size_t i = 0; i < recycling_classes; ++i) {
        c.room[i] = 0;
        c.capacity[i] = 0;
    }
    c.unreserved = total;
}

inline void drain(thread_cache& c) noexcept {
    for (std::size_t i = 0; i < recycling_classes; ++i) {
        void* p = c.heads[i];
        while (p != nullptr) {
            void* next = *static_cast<void**>(p);
            global_free(p, (i + 1) * frame_granule);
            p = next;
        }
        c.heads[i] = nullptr;
    }
    reset_reservations(c, c.state == cache_state::armed
                              ? g_recycling_limits.total_bytes.load(std::memory_order_relaxed)
                              : 0);
}

struct thread_cache_drainer {
    thread_cache_drainer() = default;
    thread_cache_drainer(const thread_cache_drainer&) = delete;
    thread_cache_drainer& operator=(const thread_cache_drainer&) = delete;
    ~thread_cache_drainer() {
        thread_cache& c = tls_cache;
        c.state = cache_state::closed;
        drain(c);
    }
};

COTRAIT_NOINLINE inline void arm_thread_cache() noexcept {
    thread_cache& c = tls_cache;
    if (c.state != cache_state::unarmed) {
        return;
    }
    static thread_local thread_cache_drainer drainer;
    (void)&drainer;
    c.state = cache_state::armed;
    reset_reservations(c, g_recycling_limits.total_bytes.load(std::memory_order_relaxed));
}

COTRAIT_NOINLINE inline void* cache_allocate_slow(std::size_t block) {
    void* p = ::operator new(block);
#if COTRAIT_RECYCLING
    if (tls_cache.state == cache_state::unarmed) {
        arm_thread_cache();
    }
#endif
    return p;
}

inline void* cache_allocate(std::size_t block) {
#if COTRAIT_RECYCLING
    if (COTRAIT_LIKELY(block <= COTRAIT_RECYCLING_MAX_BLOCK)) {
        thread_cache& c = tls_cache;
        const std::size_t i = class_of(block);
        if (void* p = c.heads[i]; COTRAIT_LIKELY(p != nullptr)) {
            c.heads[i] = *static_cast<void**>(p);
            ++c.room[i];
            return p;
        }
    }
#endif
    return cache_allocate_slow(block);
}

COTRAIT_NOINLINE inline void cache_deallocate_slow(void* p, std::size_t block) noexcept {
#if COTRAIT_RECYCLING
    thread_cache& c = tls_cache;
    if (block <= COTRAIT_RECYCLING_MAX_BLOCK) {
        if (c.state == cache_state::unarmed) {
            arm_thread_cache();
        }
        const std::size_t i = class_of(block);
        if (c.state == cache_state::armed && c.capacity[i] == 0) {
            // First free of this size on this thread: reserve the class's capacity.
            const std::size_t per_class =
                g_recycling_limits.per_class.load(std::memory_order_relaxed);
            std::size_t n = c.unreserved / block;
            n = n < per_class ? n : per_class;
            if (n != 0) {
                c.capacity[i] = static_cast<std::uint16_t>(n);
                c.room[i] = static_cast<std::uint16_t>(n);
                c.unreserved -= n * block;
            }
        }
        if (c.room[i] != 0) {
            *static_cast<void**>(p) = c.heads[i];
            c.heads[i] = p;
            --c.room[i];
            return;
        }
    }
#endif
    global_free(p, block);
}

inline void cache_deallocate(void* p, std::size_t block) noexcept {
#if COTRAIT_RECYCLING
    if (COTRAIT_LIKELY(block <= COTRAIT_RECYCLING_MAX_BLOCK)) {
        thread_cache& c = tls_cache;
        const std::size_t i = class_of(block);
        if (COTRAIT_LIKELY(c.room[i] != 0)) {
            *static_cast<void**>(p) = c.heads[i];
            c.heads[i] = p;
            --c.room[i];
            return;
        }
    }
#endif
    cache_deallocate_slow(p, block);
}

} // namespace cotrait::detail
