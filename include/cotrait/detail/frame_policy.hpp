// The promise mix-ins that give a coroutine its frame allocation: dynamic_frame_policy (chosen at
// run time: per call > per scope > per thread > process) and fixed_frame_policy<A> (an allocator
// fixed at compile time).
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_alignment.hpp>
#include <cotrait/detail/frame_allocator_arg.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/detail/frame_selection.hpp>
#include <cotrait/frame_allocator.hpp>
#include <cotrait/recycling.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace cotrait::detail {

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
        deallocate_sized_frame(frame, n);
    }
#else
    static void operator delete(void* frame) noexcept {
        deallocate_frame(frame);
    }
#endif
    static void operator delete(void* frame, std::align_val_t /*al*/) noexcept {
        deallocate_frame(frame);
    }
#if COTRAIT_SIZED_DEALLOCATION
    // Clang with -fcoro-aligned-allocation frees through an align_val_t overload; with the size
    // the recycling class is a constant, as for the sized delete above. The alignment is the one
    // the matching operator new was given (not inferred from the size, which would send every
    // frame whose size is a multiple of 32 down the slow path).
    static void operator delete(void* frame, std::size_t n, std::align_val_t al) noexcept {
        deallocate_sized_frame(frame, n, aligned_beyond_granule(al));
    }
#endif

private:
    static constexpr std::size_t aligned_beyond_granule(std::align_val_t al) noexcept {
        return static_cast<std::size_t>(al) > frame_granule ? static_cast<std::size_t>(al) : 0;
    }
    COTRAIT_DETAIL_ALWAYS_INLINE static void* allocate_default(std::size_t n, std::size_t align) {
        if (COTRAIT_UNLIKELY(align != 0)) {
            return allocate_overaligned_frame(n, align);
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
        if constexpr (std::is_same_v<RA, recycling_allocator<granule>>) {
            deallocate_frame(frame); // the recycling record is the frame's record
        } else {
            frame_record* rec = static_cast<frame_record*>(frame) - 1;
            if (rec->owner == owner_displaced()) {
                rec = reinterpret_cast<frame_record*>(rec->block) - 1;
            }
            RA ra;
            traits::deallocate(ra, reinterpret_cast<granule*>(rec), rec->block / frame_granule);
        }
    }
    static void operator delete(void* frame, std::align_val_t /*al*/) noexcept {
        operator delete(frame);
    }

private:
    static void* allocate(std::size_t n) {
        if constexpr (std::is_same_v<RA, recycling_allocator<granule>>) {
            // Its blocks carry a record already (owner and size): no second one.
            return recycled_payload_allocate(n);
        }
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

} // namespace cotrait::detail
