// Where coroutine frames come from: per call, per scope, per thread, or the process default.
//
// Every frame that is allocated with a choice made at run time carries a 16-byte record in front of
// it: who owns the block and how large it is. That is what lets a `boxed_task<T>` be destroyed on
// any thread without its type depending on the allocator.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/recycling_cache.hpp>
#include <cotrait/new_delete.hpp>
#include <cotrait/recycling.hpp>
#include <cotrait/task_error.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <type_traits>
#include <utility>

namespace cotrait {

/// Tag for `static_task<T, default_frame_allocator>` (the default): the frame resource is chosen
/// when the coroutine is called, exactly as for `boxed_task`.
struct default_frame_allocator {};

namespace detail {

struct thread_frame_state {
    std::pmr::memory_resource* current;        // innermost scope, else thread default, else null
    std::pmr::memory_resource* scope_top;      // innermost frame_allocator_scope, or null
    std::pmr::memory_resource* thread_default; // set_thread_frame_resource, or null
};
inline constinit thread_local thread_frame_state tls_frames{};

// Null means the built-in recycling resource, so the common case needs no pointer comparison.
inline constinit std::atomic<std::pmr::memory_resource*> g_default_frame_resource{nullptr};

struct alignas(frame_granule) frame_record {
    std::uintptr_t
        owner;         // owner_recycling, owner_new_delete, memory_resource*, or dealloc_record*|1
    std::size_t block; // bytes obtained from the owner, record included
};
static_assert(sizeof(frame_record) == frame_granule);

inline constexpr std::uintptr_t owner_recycling = 0;
inline constexpr std::uintptr_t owner_new_delete = 2; // even, never a valid resource address

struct alignas(8) dealloc_record {
    void (*deallocate)(void* block, std::size_t bytes) noexcept;
};

inline void* stamp_frame(void* block, std::uintptr_t owner, std::size_t bytes) noexcept {
    auto* rec = static_cast<frame_record*>(block);
    rec->owner = owner;
    rec->block = bytes;
    return rec + 1;
}

inline void* allocate_frame_from(std::pmr::memory_resource* r, std::size_t frame_size) {
    const std::size_t block = round_to_granule(frame_size + sizeof(frame_record));
    if (r == nullptr || r == &g_recycling_resource) {
        return stamp_frame(cache_allocate(block), owner_recycling, block);
    }
    if (r == &g_new_delete_resource) {
        return stamp_frame(::operator new(block), owner_new_delete, block);
    }
    void* p = r->allocate(block, frame_granule);
    return stamp_frame(p, reinterpret_cast<std::uintptr_t>(r), block);
}

// The run-time selection: scope or thread default, else the process default.
inline void* allocate_frame(std::size_t frame_size) {
    std::pmr::memory_resource* r = tls_frames.current;
    if (r == nullptr) {
        r = g_default_frame_resource.load(std::memory_order_relaxed);
    }
    return allocate_frame_from(r, frame_size);
}

inline void deallocate_frame(void* frame) noexcept {
    frame_record* rec = static_cast<frame_record*>(frame) - 1;
    const std::uintptr_t owner = rec->owner;
    const std::size_t block = rec->block;
    if (COTRAIT_LIKELY(owner == owner_recycling)) {
        cache_deallocate(rec, block);
    } else if (owner == owner_new_delete) {
        global_free(rec, block);
    } else if ((owner & 1U) != 0) {
        reinterpret_cast<const dealloc_record*>(owner & ~std::uintptr_t{1})->deallocate(rec, block);
    } else {
        reinterpret_cast<std::pmr::memory_resource*>(owner)->deallocate(rec, block, frame_granule);
    }
}

// Blocks handed out by standard Allocators are arrays of these, so alignment is that of new.
struct alignas(frame_granule) granule {
    unsigned char bytes[frame_granule];
};

template <class A>
using granule_allocator_t = typename std::allocator_traits<A>::template rebind_alloc<granule>;

template <class A>
inline constexpr bool is_stateless_allocator_v =
    std::conjunction_v<std::is_empty<A>, std::is_default_constructible<A>,
                       typename std::allocator_traits<A>::is_always_equal>;

template <class A>
struct is_polymorphic_allocator : std::false_type {};
template <class T>
struct is_polymorphic_allocator<std::pmr::polymorphic_allocator<T>> : std::true_type {};

template <class A>
concept standard_allocator = requires(A& a, std::size_t n) {
    typename A::value_type;
    { *a.allocate(n) } -> std::same_as<typename A::value_type&>;
    a.deallocate(a.allocate(n), n);
    requires std::copy_constructible<A>;
};

// A stateful allocator's copy lives after the frame; this is its footprint there.
template <class RA>
inline constexpr std::size_t stored_allocator_size = is_stateless_allocator_v<RA>
                                                         ? 0
                                                         : round_to_granule(sizeof(RA));

template <class RA>
void deallocate_with_allocator(void* block, std::size_t bytes) noexcept {
    using traits = std::allocator_traits<RA>;
    auto* g = static_cast<granule*>(block);
    if constexpr (is_stateless_allocator_v<RA>) {
        RA ra;
        traits::deallocate(ra, g, bytes / frame_granule);
    } else {
        auto* stored = std::launder(reinterpret_cast<RA*>(static_cast<unsigned char*>(block) +
                                                          bytes - stored_allocator_size<RA>));
        RA ra(std::move(*stored));
        stored->~RA();
        traits::deallocate(ra, g, bytes / frame_granule);
    }
}

template <class RA>
inline constexpr dealloc_record dealloc_record_for{&deallocate_with_allocator<RA>};

template <class A>
void* allocate_frame_with_allocator(std::size_t frame_size, const A& a) {
    using RA = granule_allocator_t<A>;
    using traits = std::allocator_traits<RA>;
    static_assert(alignof(RA) <= frame_granule, "allocator objects must not be over-aligned");
    RA ra(a);
    const std::size_t frame_block = round_to_granule(frame_size + sizeof(frame_record));
    const std::size_t bytes = frame_block + stored_allocator_size<RA>;
    void* block = std::to_address(traits::allocate(ra, bytes / frame_granule));
    if constexpr (!is_stateless_allocator_v<RA>) {
        ::new (static_cast<void*>(static_cast<unsigned char*>(block) + frame_block))
            RA(std::move(ra));
    }
    return stamp_frame(block, reinterpret_cast<std::uintptr_t>(&dealloc_record_for<RA>) | 1U,
                       bytes);
}

} // namespace detail

/// What can follow `std::allocator_arg` in a coroutine's parameter list to choose its frame's
/// allocator for that call: a `std::pmr::memory_resource` (by pointer or reference), a
/// `std::pmr::polymorphic_allocator`, or any standard Allocator. A null resource pointer means
/// "no choice for this call".
template <class A>
concept frame_allocator_arg = std::convertible_to<A, std::pmr::memory_resource*> ||
    std::derived_from<std::remove_cvref_t<A>, std::pmr::memory_resource> ||
    detail::is_polymorphic_allocator<std::remove_cvref_t<A>>::value ||
    detail::standard_allocator<std::remove_cvref_t<A>>;

namespace detail {

template <class A>
void* allocate_frame_for_arg(std::size_t frame_size, A&& a) {
    using D = std::remove_cvref_t<A>;
    if constexpr (std::convertible_to<A, std::pmr::memory_resource*>) {
        std::pmr::memory_resource* r = a;
        return r != nullptr ? allocate_frame_from(r, frame_size) : allocate_frame(frame_size);
    } else if constexpr (std::derived_from<D, std::pmr::memory_resource>) {
        // The resource is mutated through allocate(); the caller passed it by (non-const)
        // reference.
        return allocate_frame_from(const_cast<D*>(std::addressof(a)), frame_size);
    } else if constexpr (is_polymorphic_allocator<D>::value) {
        return allocate_frame_from(a.resource(), frame_size);
    } else {
        return allocate_frame_with_allocator(frame_size, a);
    }
}

// Promise mix-in: run-time selection (per call > per scope > per thread > process).
struct dynamic_frame_policy {
    static void* operator new(std::size_t n) { return allocate_frame(n); }

    template <frame_allocator_arg A, class... Args>
    static void* operator new(std::size_t n, std::allocator_arg_t /*tag*/, A&& a,
                              Args&&... /*rest*/) {
        return allocate_frame_for_arg(n, std::forward<A>(a));
    }

    // Member coroutines: the object parameter comes first.
    template <class Self, frame_allocator_arg A, class... Args>
    static void* operator new(std::size_t n, Self&& /*self*/, std::allocator_arg_t /*tag*/, A&& a,
                              Args&&... /*rest*/) {
        return allocate_frame_for_arg(n, std::forward<A>(a));
    }

    static void operator delete(void* frame) noexcept { deallocate_frame(frame); }
};

// Promise mix-in: the allocator is a template argument. Stateless allocators need no record (the
// frame's size comes back through sized deallocation) and no indirect call.
template <class A>
struct fixed_frame_policy {
    using RA = granule_allocator_t<A>;
    using traits = std::allocator_traits<RA>;
    static_assert(is_stateless_allocator_v<RA>,
                  "static_task<T, A> needs a stateless allocator A; pass a stateful one per call "
                  "(std::allocator_arg, alloc) with the default_frame_allocator instead");

#if COTRAIT_SIZED_DEALLOCATION
    static void* operator new(std::size_t n) {
        RA ra;
        return std::to_address(traits::allocate(ra, round_to_granule(n) / frame_granule));
    }
    static void operator delete(void* frame, std::size_t n) noexcept {
        RA ra;
        traits::deallocate(ra, static_cast<granule*>(frame), round_to_granule(n) / frame_granule);
    }
#else
    // Without sized deallocation the size must travel with the frame.
    static void* operator new(std::size_t n) {
        RA ra;
        const std::size_t bytes = round_to_granule(n + sizeof(frame_record));
        void* block = std::to_address(traits::allocate(ra, bytes / frame_granule));
        return stamp_frame(block, 0, bytes);
    }
    static void operator delete(void* frame) noexcept {
        frame_record* rec = static_cast<frame_record*>(frame) - 1;
        RA ra;
        traits::deallocate(ra, reinterpret_cast<granule*>(rec), rec->block / frame_granule);
    }
#endif
};

template <class A>
struct frame_policy_for {
    using type = fixed_frame_policy<A>;
};
template <>
struct frame_policy_for<default_frame_allocator> {
    using type = dynamic_frame_policy;
};

} // namespace detail

/// Sets the process-wide default frame resource (used when no call, scope or thread chooses).
/// `nullptr` restores the built-in recycling resource. Thread-safe. The resource must outlive every
/// frame allocated from it; frames already allocated keep the resource they came from.
inline void set_default_frame_resource(std::pmr::memory_resource* r) noexcept {
    detail::g_default_frame_resource.store(r == recycling_resource() ? nullptr : r,
                                           std::memory_order_relaxed);
}

/// The process-wide default frame resource.
inline std::pmr::memory_resource* default_frame_resource() noexcept {
    std::pmr::memory_resource* r = detail::g_default_frame_resource.load(std::memory_order_relaxed);
    return r != nullptr ? r : recycling_resource();
}

/// Sets the calling thread's default frame resource, which takes precedence over the process
/// default; `nullptr` removes it. Scopes still take precedence over it.
inline void set_thread_frame_resource(std::pmr::memory_resource* r) noexcept {
    detail::thread_frame_state& s = detail::tls_frames;
    s.thread_default = r;
    if (s.scope_top == nullptr) {
        s.current = r;
    }
}

/// The calling thread's default frame resource, or `nullptr` if it has none.
inline std::pmr::memory_resource* thread_frame_resource() noexcept {
    return detail::tls_frames.thread_default;
}

/// The resource a frame created now on this thread would come from, absent a per-call allocator.
inline std::pmr::memory_resource* current_frame_resource() noexcept {
    std::pmr::memory_resource* r = detail::tls_frames.current;
    return r != nullptr ? r : default_frame_resource();
}

/// RAII: every frame created on this thread while the scope lives (and not given an allocator per
/// call) comes from `r`. Scopes nest; destroying one restores the previous choice, also during
/// stack unwinding. A scope belongs to the thread that created it and must be destroyed there, in
/// LIFO order; violations terminate with a message. Do not keep a scope alive across a `co_await`:
/// the coroutine may resume on another thread, and other coroutines run on this one meanwhile.
class frame_allocator_scope {
public:
    explicit frame_allocator_scope(std::pmr::memory_resource& r) noexcept
        : state_(&detail::tls_frames), mine_(&r), prev_(state_->scope_top) {
        state_->scope_top = mine_;
        state_->current = mine_;
    }
    frame_allocator_scope(const frame_allocator_scope&) = delete;
    frame_allocator_scope& operator=(const frame_allocator_scope&) = delete;
    ~frame_allocator_scope() {
        if (state_ != &detail::tls_frames || state_->scope_top != mine_) {
            std::fputs(
                "cotrait: frame_allocator_scope destroyed on another thread or out of order\n",
                stderr);
            std::abort();
        }
        state_->scope_top = prev_;
        state_->current = prev_ != nullptr ? prev_ : state_->thread_default;
    }

    /// The resource this scope installed.
    [[nodiscard]] std::pmr::memory_resource* resource() const noexcept { return mine_; }

private:
    detail::thread_frame_state* state_;
    std::pmr::memory_resource* mine_;
    std::pmr::memory_resource* prev_;
};

} // namespace cotrait
