// Per-thread caches of freed blocks, by 16-byte size class, with blocks freed on other threads
// returned to the thread that allocated them.
//
// Every block carries a frame_record whose owner is the allocating thread's inbox. A block freed
// on that thread joins its local free list (no atomic operation); a block freed on any other
// thread is pushed onto the owner's inbox (one compare-and-swap on a per-class stack), and the
// owner takes a whole class's stack with one exchange the next time its local list of that class
// runs dry. So a thread that keeps creating frames that other threads destroy (a caller fanning out
// onto a pool) keeps finding its blocks, and a thread that only destroys hoards nothing.
// docs/allocators.md explains the choice against the alternatives measured.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <thread>

namespace cotrait::detail {

// Process-wide limits. A thread copies them into its cache when the cache comes into use.
struct recycling_limits_state {
    std::atomic<std::uint32_t> per_class{1024};
    std::atomic<std::size_t> total_bytes{std::size_t{2} << 20};
};
inline constinit recycling_limits_state g_recycling_limits{};

// A class's first reservation; it doubles each time the class would otherwise spill, within the
// per-class limit and the thread's byte budget.
inline constexpr std::uint32_t initial_class_reservation = 16;

inline constexpr std::size_t recycling_classes = COTRAIT_RECYCLING_MAX_BLOCK / frame_granule;
static_assert(COTRAIT_RECYCLING_MAX_BLOCK % frame_granule == 0);

inline constexpr std::size_t class_of(std::size_t block) noexcept {
    return block / frame_granule - 1;
}

// Counters written by one thread only (the inbox's owner) and read by anyone: relaxed atomics,
// incremented with a load and a store rather than a read-modify-write.
struct owner_counter {
    std::atomic<std::uint64_t> n{0};
    void add(std::uint64_t k = 1) noexcept {
        n.store(n.load(std::memory_order_relaxed) + k, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept { return n.load(std::memory_order_relaxed); }
};

// What a thread's blocks come back through when other threads free them. Inboxes are never freed:
// a thread that exits leaves its inbox orphaned, and the next thread that starts using the cache
// adopts it, so a block stamped with it always points at valid memory. Their number is bounded by
// the largest number of threads that used the cache at once.
struct alignas(64) recycling_inbox {
    std::atomic<void*> heads[recycling_classes]{}; // lock-free stacks, linked through the blocks
    alignas(64) std::atomic<std::size_t> bytes{0}; // bytes on the stacks
    std::atomic<bool> orphaned{false};
    owner_counter global_allocations; // blocks the owner took from operator new
    owner_counter spills;             // blocks the owner gave back to operator delete (cache full)
    owner_counter remote_frees;       // blocks the owner pushed onto other threads' inboxes
    owner_counter refills;            // times the owner took a class's stack
    owner_counter refilled_blocks;    // blocks it found there
    recycling_inbox* next = nullptr;  // registry list; guarded by the registry lock
    bool adoptable = false;           // guarded by the registry lock
};

// The registry of every inbox ever made. Touched when a thread's cache starts or ends, and by the
// process-wide statistics; a spin lock keeps it usable during static destruction.
struct inbox_registry {
    std::atomic<bool> locked{false};
    recycling_inbox* all = nullptr;

    void lock() noexcept {
        while (locked.exchange(true, std::memory_order_acquire)) {
            std::this_thread::yield();
        }
    }
    void unlock() noexcept { locked.store(false, std::memory_order_release); }
};
inline constinit inbox_registry g_inbox_registry{};

enum class cache_state : unsigned char { unarmed, armed, closed };

// Trivially constructible and destructible so that access is a plain TLS offset (no guard, no
// wrapper call) and the storage stays usable while the thread's destructors run.
//
// `tag` is what this thread stamps into the records of the blocks it hands out (its inbox, tagged);
// it is 0 until the cache is armed and after it is closed, which matches no record and so sends
// every free down the slow path. Bounds cost one counter on the hot path: `room[i]` is how many
// more blocks class i may take; a class's capacity is reserved from the thread's byte budget the
// first time a block of that size is freed and grows when the class would spill, so the cached
// total can never exceed the budget.
struct thread_cache {
    std::uintptr_t tag;
    void* heads[recycling_classes];
    std::uint16_t room[recycling_classes];
    std::uint16_t capacity[recycling_classes];
    std::size_t unreserved; // bytes of budget not yet given to a class
    recycling_inbox* inbox;
    cache_state state;
};
inline constinit thread_local thread_cache tls_cache{};

inline void reset_reservations(thread_cache& c, std::size_t total) noexcept {
    for (std::size_t i = 0; i < recycling_classes; ++i) {
        c.room[i] = 0;
        c.capacity[i] = 0;
    }
    c.unreserved = total;
}

// Frees a list of blocks of one class to the global heap; returns how many there were.
inline std::size_t free_list(void* p, std::size_t block) noexcept {
    std::size_t n = 0;
    while (p != nullptr) {
        void* next = *static_cast<void**>(p);
        global_free(p, block);
        p = next;
        ++n;
    }
    return n;
}

// Gives every block on an inbox's stacks back to the global heap.
inline void drain_inbox(recycling_inbox& b) noexcept {
    for (std::size_t i = 0; i < recycling_classes; ++i) {
        if (b.heads[i].load(std::memory_order_relaxed) != nullptr) {
            const std::size_t block = (i + 1) * frame_granule;
            // seq_cst: pairs with push_remote's CAS and re-check of `orphaned` (see there).
            const std::size_t n =
                free_list(b.heads[i].exchange(nullptr, std::memory_order_seq_cst), block);
            b.bytes.fetch_sub(n * block, std::memory_order_relaxed);
        }
    }
}

inline void drain(thread_cache& c) noexcept {
    for (std::size_t i = 0; i < recycling_classes; ++i) {
        free_list(c.heads[i], (i + 1) * frame_granule);
        c.heads[i] = nullptr;
    }
    if (c.inbox != nullptr && c.state == cache_state::armed) {
        drain_inbox(*c.inbox);
    }
    reset_reservations(c, c.state == cache_state::armed
                              ? g_recycling_limits.total_bytes.load(std::memory_order_relaxed)
                              : 0);
}

inline recycling_inbox* adopt_or_make_inbox() noexcept {
    inbox_registry& r = g_inbox_registry;
    r.lock();
    recycling_inbox* b = r.all;
    while (b != nullptr && !b->adoptable) {
        b = b->next;
    }
    if (b != nullptr) {
        b->adoptable = false;
    }
    r.unlock();
    if (b != nullptr) {
        // Blocks its previous owner's peers pushed after that thread had emptied it.
        drain_inbox(*b);
        b->orphaned.store(false, std::memory_order_release);
        return b;
    }
    // malloc, not operator new: an inbox is per-thread bookkeeping that lives for the process, and
    // programs that count operator new calls (as the tests do) should see frames only.
    void* raw = std::aligned_alloc(alignof(recycling_inbox), sizeof(recycling_inbox));
    if (raw == nullptr) {
        return nullptr;
    }
    b = ::new (raw) recycling_inbox;
    r.lock();
    b->next = r.all;
    r.all = b;
    r.unlock();
    return b;
}

struct thread_cache_drainer {
    thread_cache_drainer() = default;
    thread_cache_drainer(const thread_cache_drainer&) = delete;
    thread_cache_drainer& operator=(const thread_cache_drainer&) = delete;
    ~thread_cache_drainer() {
        thread_cache& c = tls_cache;
        recycling_inbox* b = c.inbox;
        c.state = cache_state::closed;
        c.tag = 0;
        drain(c);
        if (b == nullptr) {
            return;
        }
        // From here on, threads that free this thread's blocks keep them (the flag), and what was
        // pushed before goes back to the heap. A push that raced with the flag is taken back by
        // its pusher (recycled_free_slow), so nothing waits for an adoption that may never come.
        b->orphaned.store(true, std::memory_order_seq_cst);
        drain_inbox(*b);
        c.inbox = nullptr;
        inbox_registry& r = g_inbox_registry;
        r.lock();
        b->adoptable = true;
        r.unlock();
    }
};

COTRAIT_NOINLINE inline void arm_thread_cache() noexcept {
    thread_cache& c = tls_cache;
    if (c.state != cache_state::unarmed) {
        return;
    }
    recycling_inbox* b = adopt_or_make_inbox();
    if (b == nullptr) {
        return; // stays unarmed: every block goes to the global heap
    }
    static thread_local thread_cache_drainer drainer;
    (void)&drainer;
    c.inbox = b;
    c.tag = reinterpret_cast<std::uintptr_t>(b) | owner_tag_recycling;
    c.state = cache_state::armed;
    reset_reservations(c, g_recycling_limits.total_bytes.load(std::memory_order_relaxed));
}

// Makes room in class i for one more block: the first reservation, or doubling, within the
// per-class limit and the byte budget. False if the class is full.
inline bool grow_class(thread_cache& c, std::size_t i, std::size_t block) noexcept {
    if (c.state != cache_state::armed) {
        return false;
    }
    const std::size_t per_class = g_recycling_limits.per_class.load(std::memory_order_relaxed);
    const std::size_t cap = c.capacity[i];
    std::size_t want = cap == 0 ? initial_class_reservation : cap;
    want = cap + want > per_class ? per_class - (cap < per_class ? cap : per_class) : want;
    const std::size_t affordable = c.unreserved / block;
    want = want < affordable ? want : affordable;
    if (want == 0) {
        return false;
    }
    c.capacity[i] = static_cast<std::uint16_t>(cap + want);
    c.room[i] = static_cast<std::uint16_t>(c.room[i] + want);
    c.unreserved -= want * block;
    return true;
}

// A block of class i that this thread may keep: onto the local list, or back to the heap.
inline void keep_or_spill(thread_cache& c, void* p, std::size_t block) noexcept {
    const std::size_t i = class_of(block);
    if (c.room[i] != 0 || grow_class(c, i, block)) {
        *static_cast<void**>(p) = c.heads[i];
        c.heads[i] = p;
        --c.room[i];
        return;
    }
    if (c.inbox != nullptr) {
        c.inbox->spills.add();
    }
    global_free(p, block);
}

inline frame_record* stamp_here(void* p, std::uintptr_t tag, std::size_t block) noexcept {
    auto* r = static_cast<frame_record*>(p);
    r->owner = tag;
    r->block = block;
    return r;
}

// Takes back the blocks other threads freed into class i; returns one of them (or null).
inline void* refill_from_inbox(thread_cache& c, std::size_t i, std::size_t block) noexcept {
    recycling_inbox& b = *c.inbox;
    if (b.heads[i].load(std::memory_order_relaxed) == nullptr) {
        return nullptr;
    }
    void* list = b.heads[i].exchange(nullptr, std::memory_order_acquire);
    if (list == nullptr) {
        return nullptr;
    }
    void* first = list;
    list = *static_cast<void**>(list);
    std::size_t n = 1; // `first` goes straight to the caller; the others join the local list

    while (list != nullptr) {
        void* next = *static_cast<void**>(list);
        keep_or_spill(c, list, block);
        list = next;
        ++n;
    }
    b.bytes.fetch_sub(n * block, std::memory_order_relaxed);
    b.refills.add();
    b.refilled_blocks.add(n);
    return first;
}

// A block of `block` bytes (record included) with its record stamped: from the local list, else
// from what other threads gave back, else from the global heap.
COTRAIT_NOINLINE inline frame_record* recycled_allocate_slow(std::size_t block) {
#if COTRAIT_RECYCLING
    thread_cache& c = tls_cache;
    if (block <= COTRAIT_RECYCLING_MAX_BLOCK) {
        if (c.state == cache_state::unarmed) {
            arm_thread_cache();
        }
        if (c.state == cache_state::armed) {
            const std::size_t i = class_of(block);
            if (void* p = c.heads[i]; p != nullptr) { // armed just now with blocks already kept
                c.heads[i] = *static_cast<void**>(p);
                ++c.room[i];
                return stamp_here(p, c.tag, block);
            }
            if (void* p = refill_from_inbox(c, i, block); p != nullptr) {
                return stamp_here(p, c.tag, block);
            }
            void* p = ::operator new(block);
            c.inbox->global_allocations.add();
            return stamp_here(p, c.tag, block);
        }
    }
#endif
    return stamp_here(::operator new(block), owner_new_delete, block);
}

inline frame_record* recycled_allocate(std::size_t block) {
#if COTRAIT_RECYCLING
    if (COTRAIT_LIKELY(block <= COTRAIT_RECYCLING_MAX_BLOCK)) {
        thread_cache& c = tls_cache;
        const std::size_t i = class_of(block);
        if (void* p = c.heads[i]; COTRAIT_LIKELY(p != nullptr)) {
            c.heads[i] = *static_cast<void**>(p);
            ++c.room[i];
            // Only the owner word was overwritten (by the list link): every block on a list of
            // class i keeps (i + 1) * frame_granule in its size word, since a block only joins
            // the list of the class its record names. One store restamps it.
            auto* r = static_cast<frame_record*>(p);
            r->owner = c.tag;
            return r;
        }
    }
#endif
    return recycled_allocate_slow(block);
}

// The hot path of a free: the block was allocated on this thread and its class has room. `block`
// must be the record's block size.
inline bool recycled_free_here([[maybe_unused]] frame_record* r,
                               [[maybe_unused]] std::size_t block) noexcept {
#if COTRAIT_RECYCLING
    thread_cache& c = tls_cache;
    // Blocks above the largest class are never stamped with a thread's tag; the size test folds
    // away when `block` is a constant and keeps the compiler's bounds checks quiet otherwise.
    if (COTRAIT_LIKELY(block <= COTRAIT_RECYCLING_MAX_BLOCK && r->owner == c.tag)) {
        const std::size_t i = class_of(block);
        // Decrement and test in one (sub + jb): one instruction fewer than a test then a
        // decrement on the path every same-thread free takes.
        std::uint16_t left;
#if defined(__GNUC__) || defined(__clang__)
        const bool full = __builtin_sub_overflow(c.room[i], std::uint16_t{1}, &left);
#else
        const bool full = c.room[i] == 0;
        left = static_cast<std::uint16_t>(c.room[i] - 1);
#endif
        if (COTRAIT_LIKELY(!full)) {
            c.room[i] = left;
            *reinterpret_cast<void**>(r) = c.heads[i];
            c.heads[i] = r;
            return true;
        }
    }
#endif
    return false;
}

// Pushes a block on its owner's inbox. Returns false if the owner exited meanwhile: its exit
// (orphaned = true, then drain_inbox) may have run between the caller's check of `orphaned` and
// the push, which would strand the block until another thread adopts the inbox. Every access in
// this handshake is seq_cst (a store-buffering pattern): either the push comes before the exit's
// drain in the single total order, and the drain frees it, or the re-check below sees the flag,
// and the caller drains the inbox itself (take-all exchanges, safe beside any other drainer).
inline bool push_remote(recycling_inbox& b, frame_record* r, std::size_t block) noexcept {
    std::atomic<void*>& head = b.heads[class_of(block)];
    void* old = head.load(std::memory_order_relaxed);
    do {
        *reinterpret_cast<void**>(r) = old;
    } while (
        !head.compare_exchange_weak(old, r, std::memory_order_seq_cst, std::memory_order_relaxed));
    return !b.orphaned.load(std::memory_order_seq_cst);
}

// Every other free of a block whose owner is a recycling inbox or the global heap.
COTRAIT_NOINLINE inline void recycled_free_slow(frame_record* r) noexcept {
    [[maybe_unused]] const std::uintptr_t owner = r->owner;
    const std::size_t block = r->block;
#if COTRAIT_RECYCLING
    if ((owner & owner_tag_mask) == owner_tag_recycling) {
        thread_cache& c = tls_cache;
        if (c.state == cache_state::unarmed) {
            arm_thread_cache();
        }
        if (owner == c.tag) { // ours, but the class is full
            keep_or_spill(c, r, block);
            return;
        }
        auto* b = reinterpret_cast<recycling_inbox*>(owner & ~owner_tag_mask);
        if (!b->orphaned.load(std::memory_order_acquire)) {
            // The owner's inbox holds at most the owner's byte budget; past it, the heap.
            const std::size_t limit =
                g_recycling_limits.total_bytes.load(std::memory_order_relaxed);
            if (b->bytes.fetch_add(block, std::memory_order_relaxed) + block <= limit) {
                if (!push_remote(*b, r, block)) {
                    drain_inbox(*b); // its owner exited while we pushed: back to the heap
                }
                if (c.inbox != nullptr) {
                    c.inbox->remote_frees.add();
                }
                return;
            }
            b->bytes.fetch_sub(block, std::memory_order_relaxed);
        } else if (c.state == cache_state::armed) {
            keep_or_spill(c, r, block); // its owner is gone: the block is ours now
            return;
        }
        if (c.inbox != nullptr) {
            c.inbox->spills.add();
        }
    }
#endif
    global_free(r, block);
}

} // namespace cotrait::detail
