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
// The bounds are kept as countdowns, so a free costs one test: `room[i]` is how many more blocks
// class i may hold and `budget` how many more bytes all classes may hold. Both are zero until the
// cache is armed and after it is closed, which sends those frees down the slow path.
struct thread_cache {
    void* heads[recycling_classes];
    std::uint16_t room[recycling_classes];
    std::size_t budget;
    cache_state state;
};
inline constinit thread_local thread_cache tls_cache{};

inline constexpr std::size_t class_of(std::size_t block) noexcept {
    return block / frame_granule - 1;
}

inline void set_room(thread_cache& c, std::uint32_t per_class, std::size_t total) noexcept {
    // `room` counts down from the limit; blocks already cached keep counting against it.
    std::size_t held_bytes = 0;
    for (std::size_t i = 0; i < recycling_classes; ++i) {
        std::uint32_t held = 0;
        for (void* p = c.heads[i]; p != nullptr; p = *static_cast<void**>(p)) {
            ++held;
        }
        held_bytes += held * (i + 1) * frame_granule;
        c.room[i] = static_cast<std::uint16_t>(held < per_class ? per_class - held : 0);
    }
    c.budget = held_bytes < total ? total - held_bytes : 0;
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
    if (c.state == cache_state::armed) {
        set_room(c, g_recycling_limits.per_class.load(std::memory_order_relaxed),
                 g_recycling_limits.total_bytes.load(std::memory_order_relaxed));
    }
}

struct thread_cache_drainer {
    thread_cache_drainer() = default;
    thread_cache_drainer(const thread_cache_drainer&) = delete;
    thread_cache_drainer& operator=(const thread_cache_drainer&) = delete;
    ~thread_cache_drainer() {
        thread_cache& c = tls_cache;
        c.state = cache_state::closed;
        drain(c);
        for (auto& r : c.room) {
            r = 0;
        }
        c.budget = 0;
    }
};

// Off the hot path: the first use of the cache on a thread registers the thread-exit drainer (a
// guarded thread_local) and loads the limits.
COTRAIT_NOINLINE inline void arm_thread_cache() noexcept {
    thread_cache& c = tls_cache;
    if (c.state != cache_state::unarmed) {
        return;
    }
    static thread_local thread_cache_drainer drainer;
    (void)&drainer;
    c.state = cache_state::armed;
    set_room(c, g_recycling_limits.per_class.load(std::memory_order_relaxed),
             g_recycling_limits.total_bytes.load(std::memory_order_relaxed));
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

// `block` is a multiple of frame_granule. Throws std::bad_alloc like operator new.
inline void* cache_allocate(std::size_t block) {
#if COTRAIT_RECYCLING
    if (COTRAIT_LIKELY(block <= COTRAIT_RECYCLING_MAX_BLOCK)) {
        thread_cache& c = tls_cache;
        const std::size_t i = class_of(block);
        if (void* p = c.heads[i]; COTRAIT_LIKELY(p != nullptr)) {
            c.heads[i] = *static_cast<void**>(p);
            ++c.room[i];
            c.budget += block;
            return p;
        }
    }
#endif
    return cache_allocate_slow(block);
}

COTRAIT_NOINLINE inline void cache_deallocate_slow(void* p, std::size_t block) noexcept {
#if COTRAIT_RECYCLING
    thread_cache& c = tls_cache;
    if (block <= COTRAIT_RECYCLING_MAX_BLOCK && c.state == cache_state::unarmed) {
        // First free on a thread that never allocated a frame (frames may be destroyed on any
        // thread): arm the cache so it is released when the thread exits, then cache the block.
        arm_thread_cache();
        const std::size_t i = class_of(block);
        if (c.room[i] != 0 && c.budget >= block) {
            *static_cast<void**>(p) = c.heads[i];
            c.heads[i] = p;
            --c.room[i];
            c.budget -= block;
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
        // A block freed on a thread other than the one that allocated it simply joins this
        // thread's cache: blocks are plain operator-new memory, not tied to a thread.
        if (COTRAIT_LIKELY(c.room[i] != 0 && c.budget >= block)) {
            *static_cast<void**>(p) = c.heads[i];
            c.heads[i] = p;
            --c.room[i];
            c.budget -= block;
            return;
        }
    }
#endif
    cache_deallocate_slow(p, block);
}

} // namespace cotrait::detail
