// Where coroutine frames come from: per call, per scope, per thread, or the process default.
//
// Every frame that is allocated with a choice made at run time carries a 16-byte record in front of
// it: who owns the block and how large it is. That is what lets a `boxed_task<T>` be destroyed on
// any thread without its type depending on the allocator.
#pragma once

// Largest frame alignment the allocation functions provide. Neither GCC nor Clang tells a promise's
// operator new how aligned the frame must be (they call operator new(size_t) and lay the frame out
// as if the block were aligned like the frame's most aligned member). A frame's size is a multiple
// of its alignment, so a frame whose size is a multiple of 32 may need up to
// min(size & -size, COTRAIT_MAX_FRAME_ALIGNMENT) and gets it; other frames are never over-aligned.
// Define it to 16 to turn the handling off (only if no coroutine has locals aligned beyond 16).
#if !defined(COTRAIT_MAX_FRAME_ALIGNMENT)
#define COTRAIT_MAX_FRAME_ALIGNMENT 128
#endif

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/detail/recycling_cache.hpp>
#include <cotrait/new_delete.hpp>
#include <cotrait/recycling.hpp>
#include <cotrait/task_error.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

static_assert(COTRAIT_MAX_FRAME_ALIGNMENT >= frame_granule &&
                  (COTRAIT_MAX_FRAME_ALIGNMENT & (COTRAIT_MAX_FRAME_ALIGNMENT - 1)) == 0,
              "COTRAIT_MAX_FRAME_ALIGNMENT must be a power of two, at least 16");

// The alignment a frame of `frame_size` bytes may need beyond frame_granule, or 0.
constexpr std::size_t frame_overalignment(std::size_t frame_size) noexcept {
    if constexpr (COTRAIT_MAX_FRAME_ALIGNMENT == frame_granule) {
        return 0;
    } else {
        if ((frame_size & (2 * frame_granule - 1)) != 0 || frame_size == 0) {
            return 0;
        }
        const std::size_t a = frame_size & (~frame_size + 1);
        return a < COTRAIT_MAX_FRAME_ALIGNMENT ? a : COTRAIT_MAX_FRAME_ALIGNMENT;
    }
}

struct alignas(8) dealloc_record {
    void (*deallocate)(void* block, std::size_t bytes) noexcept;
};

inline void deallocate_frame(void* frame) noexcept;

// An over-aligned frame placed inside a larger block has a second record in front of it, whose
// `block` is the address of the frame as first allocated; that frame's own record says how to free
// the block. It is an ordinary tagged record, so the common paths test nothing more for it.
inline void free_displaced(void* /*rec*/, std::size_t inner) noexcept {
    deallocate_frame(reinterpret_cast<void*>(inner));
}
inline constexpr dealloc_record displaced_record{&free_displaced};
inline std::uintptr_t owner_displaced() noexcept {
    return reinterpret_cast<std::uintptr_t>(&displaced_record) | owner_tag_dealloc;
}

// Off the hot path: `alloc(n)` returns a frame with a record in front (16-aligned). It is asked
// for `align` more bytes so that an `align`-aligned frame fits after a second record.
template <class Alloc>
COTRAIT_NOINLINE void* allocate_aligned_frame(std::size_t frame_size, std::size_t align,
                                              Alloc alloc) {
    void* inner = alloc(frame_size + align);
    const auto at = reinterpret_cast<std::uintptr_t>(inner);
    if ((at & (align - 1)) == 0) {
        return inner;
    }
    const std::uintptr_t frame = (at + sizeof(frame_record) + align - 1) & ~(align - 1);
    auto* rec = reinterpret_cast<frame_record*>(frame) - 1;
    rec->owner = owner_displaced();
    rec->block = at;
    return reinterpret_cast<void*>(frame);
}

// The block for a frame of `frame_size` bytes, record included; throws std::bad_alloc for sizes
// that would wrap around.
inline std::size_t frame_block_size(std::size_t frame_size) {
    if (COTRAIT_UNLIKELY(frame_size > max_request_bytes)) {
        throw_bad_alloc();
    }
    return round_to_granule(frame_size + sizeof(frame_record));
}

inline void* allocate_frame_from(std::pmr::memory_resource* r, std::size_t frame_size) {
    const std::size_t block = frame_block_size(frame_size);
    if (r == nullptr || r == &g_recycling_resource) {
        return recycled_allocate(block) + 1;
    }
    if (r == &g_new_delete_resource) {
        return stamp_frame(::operator new(block), owner_new_delete, block);
    }
    void* p = r->allocate(block, frame_granule);
    return stamp_frame(p, reinterpret_cast<std::uintptr_t>(r) | owner_tag_resource, block);
}

// The run-time selection: scope or thread default, else the process default.
COTRAIT_NOINLINE inline void* allocate_frame_selected(std::size_t frame_size) {
    std::pmr::memory_resource* r = tls_frames.current;
    if (r == nullptr) {
        r = g_default_frame_resource.load(std::memory_order_relaxed);
    }
    return allocate_frame_from(r, frame_size);
}

// The common case (nothing chosen by scope, thread or process: the recycling caches) stays inline
// in every coroutine ramp; any other choice costs a call.
inline void* allocate_frame(std::size_t frame_size) {
    if (COTRAIT_LIKELY(tls_frames.current == nullptr &&
                       g_default_frame_resource.load(std::memory_order_relaxed) == nullptr)) {
        // Frame sizes are compile-time constants far below max_request_bytes.
        return recycled_allocate(round_to_granule(frame_size + sizeof(frame_record))) + 1;
    }
    return allocate_frame_selected(frame_size);
}

COTRAIT_NOINLINE inline void deallocate_frame_slow(frame_record* rec) noexcept {
    const std::uintptr_t owner = rec->owner;
    switch (owner & owner_tag_mask) {
    case owner_tag_recycling:
    case owner_new_delete:
        recycled_free_slow(rec);
        return;
    case owner_tag_dealloc:
        reinterpret_cast<const dealloc_record*>(owner & ~owner_tag_mask)
            ->deallocate(rec, rec->block);
        return;
    default:
        reinterpret_cast<std::pmr::memory_resource*>(owner)->deallocate(rec, rec->block,
                                                                        frame_granule);
        return;
    }
}

inline void deallocate_frame(void* frame) noexcept {
    frame_record* rec = static_cast<frame_record*>(frame) - 1;
    if (COTRAIT_LIKELY(recycled_free_here(rec, rec->block))) {
        return;
    }
    deallocate_frame_slow(rec);
}

// With sized deallocation the frame's destroy function passes its size as a constant, so the
// recycling class is known at compile time and the cache push does not wait on a load of the
// record's size. The record's size is still compared, because an over-aligned or resource-owned
// frame has a different block behind the same frame size.
inline void deallocate_frame(void* frame, std::size_t frame_size) noexcept {
    frame_record* rec = static_cast<frame_record*>(frame) - 1;
    const std::size_t block = round_to_granule(frame_size + sizeof(frame_record));
    if (COTRAIT_LIKELY(rec->block == block && recycled_free_here(rec, block))) {
        return;
    }
    deallocate_frame_slow(rec);
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
    const std::size_t frame_block = frame_block_size(frame_size);
    const std::size_t bytes = frame_block + stored_allocator_size<RA>;
    void* block = std::to_address(traits::allocate(ra, bytes / frame_granule));
    if constexpr (!is_stateless_allocator_v<RA>) {
        ::new (static_cast<void*>(static_cast<unsigned char*>(block) + frame_block))
            RA(std::move(ra));
    }
    return stamp_frame(
        block, reinterpret_cast<std::uintptr_t>(&dealloc_record_for<RA>) | owner_tag_dealloc,
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

#if defined(__GNUC__) || defined(__clang__)
// GCC warns (-Wmismatched-new-delete) when it sees the frame come from a promise operator new with
// extra parameters and go back through the usual operator delete, which is what the language
// prescribes for coroutines; inlining the allocation functions keeps that call out of sight.
#define COTRAIT_DETAIL_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define COTRAIT_DETAIL_ALWAYS_INLINE inline
#endif

// Promise mix-in: run-time selection (per call > per scope > per thread > process).
//
// Over-aligned frames: compilers call operator new(size_t) without the frame's alignment, unless
// Clang's -fcoro-aligned-allocation is on (then the align_val_t overloads below get it, exactly).
// Without it, frame_overalignment infers the alignment from the size, which is exact for GCC.
struct dynamic_frame_policy {
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n) {
        return allocate_default(n, frame_overalignment(n));
    }
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n, std::align_val_t al) {
        return allocate_default(n, aligned_beyond_granule(al));
    }

    template <frame_allocator_arg A, class... Args>
    COTRAIT_DETAIL_ALWAYS_INLINE static void*
    operator new(std::size_t n, std::allocator_arg_t /*tag*/, A&& a, Args&&... /*rest*/) {
        return allocate_for_arg(n, frame_overalignment(n), a);
    }
    template <frame_allocator_arg A, class... Args>
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n, std::align_val_t al,
                                                           std::allocator_arg_t /*tag*/, A&& a,
                                                           Args&&... /*rest*/) {
        return allocate_for_arg(n, aligned_beyond_granule(al), a);
    }

    // Member coroutines: the object parameter comes first.
    template <class Self, frame_allocator_arg A, class... Args>
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n, Self&& /*self*/,
                                                           std::allocator_arg_t /*tag*/, A&& a,
                                                           Args&&... /*rest*/) {
        return allocate_for_arg(n, frame_overalignment(n), a);
    }
    template <class Self, frame_allocator_arg A, class... Args>
    COTRAIT_DETAIL_ALWAYS_INLINE static void*
    operator new(std::size_t n, std::align_val_t al, Self&& /*self*/, std::allocator_arg_t /*tag*/,
                 A&& a, Args&&... /*rest*/) {
        return allocate_for_arg(n, aligned_beyond_granule(al), a);
    }

#if COTRAIT_SIZED_DEALLOCATION
    static void operator delete(void* frame, std::size_t n) noexcept {
        deallocate_frame(frame, n);
    }
#else
    static void operator delete(void* frame) noexcept {
        deallocate_frame(frame);
    }
#endif
    static void operator delete(void* frame, std::align_val_t /*al*/) noexcept {
        deallocate_frame(frame);
    }

private:
    static constexpr std::size_t aligned_beyond_granule(std::align_val_t al) noexcept {
        return static_cast<std::size_t>(al) > frame_granule ? static_cast<std::size_t>(al) : 0;
    }
    COTRAIT_DETAIL_ALWAYS_INLINE static void* allocate_default(std::size_t n, std::size_t align) {
        if (COTRAIT_UNLIKELY(align != 0)) {
            return allocate_aligned_frame(n, align,
                                          [](std::size_t m) { return allocate_frame(m); });
        }
        return allocate_frame(n);
    }
    template <class A>
    COTRAIT_DETAIL_ALWAYS_INLINE static void* allocate_for_arg(std::size_t n, std::size_t align,
                                                               A& a) {
        if (COTRAIT_UNLIKELY(align != 0)) {
            return allocate_aligned_frame(
                n, align, [&a](std::size_t m) { return allocate_frame_for_arg(m, a); });
        }
        return allocate_frame_for_arg(n, a);
    }
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
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n) {
        return allocate(n, frame_overalignment(n));
    }
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n, std::align_val_t al) {
        return allocate(
            n, static_cast<std::size_t>(al) > frame_granule ? static_cast<std::size_t>(al) : 0);
    }
    static void operator delete(void* frame, std::size_t n) noexcept {
        deallocate(frame, n, frame_overalignment(n));
    }
    static void operator delete(void* frame, std::size_t n, std::align_val_t al) noexcept {
        deallocate(frame, n,
                   static_cast<std::size_t>(al) > frame_granule ? static_cast<std::size_t>(al) : 0);
    }

private:
    COTRAIT_DETAIL_ALWAYS_INLINE static void* allocate(std::size_t n, std::size_t align) {
        if (COTRAIT_UNLIKELY(align != 0)) {
            return allocate_aligned(n, align);
        }
        RA ra;
        return std::to_address(traits::allocate(ra, round_to_granule(n) / frame_granule));
    }
    static void deallocate(void* frame, std::size_t n, std::size_t align) noexcept {
        RA ra;
        if (COTRAIT_UNLIKELY(align != 0)) {
            // The block's address sits just before the frame (see allocate_aligned).
            void* block = static_cast<void**>(frame)[-1];
            traits::deallocate(ra, static_cast<granule*>(block),
                               (round_to_granule(n) + align) / frame_granule);
            return;
        }
        traits::deallocate(ra, static_cast<granule*>(frame), round_to_granule(n) / frame_granule);
    }
    // The frame goes at the first `align` boundary that leaves room for the block's address in
    // front of it; `align` bytes of slack make sure it fits.
    COTRAIT_NOINLINE static void* allocate_aligned(std::size_t n, std::size_t align) {
        RA ra;
        void* block =
            std::to_address(traits::allocate(ra, (round_to_granule(n) + align) / frame_granule));
        const auto at = reinterpret_cast<std::uintptr_t>(block);
        const std::uintptr_t frame = (at + frame_granule + align - 1) & ~(align - 1);
        reinterpret_cast<void**>(frame)[-1] = block;
        return reinterpret_cast<void*>(frame);
    }
#else
    // Without sized deallocation the size must travel with the frame.
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n) {
        if (const std::size_t align = frame_overalignment(n); COTRAIT_UNLIKELY(align != 0)) {
            return allocate_aligned_frame(n, align, [](std::size_t m) { return allocate(m); });
        }
        return allocate(n);
    }
    COTRAIT_DETAIL_ALWAYS_INLINE static void* operator new(std::size_t n, std::align_val_t al) {
        if (const auto align = static_cast<std::size_t>(al);
            COTRAIT_UNLIKELY(align > frame_granule)) {
            return allocate_aligned_frame(n, align, [](std::size_t m) { return allocate(m); });
        }
        return allocate(n);
    }
    static void operator delete(void* frame) noexcept {
        frame_record* rec = static_cast<frame_record*>(frame) - 1;
        if (rec->owner == owner_displaced()) {
            rec = reinterpret_cast<frame_record*>(rec->block) - 1;
        }
        RA ra;
        traits::deallocate(ra, reinterpret_cast<granule*>(rec), rec->block / frame_granule);
    }
    static void operator delete(void* frame, std::align_val_t /*al*/) noexcept {
        operator delete(frame);
    }

private:
    static void* allocate(std::size_t n) {
        RA ra;
        const std::size_t bytes = round_to_granule(n + sizeof(frame_record));
        void* block = std::to_address(traits::allocate(ra, bytes / frame_granule));
        // Only this policy's operator delete reads the record, for its size.
        return stamp_frame(block, owner_new_delete, bytes);
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
