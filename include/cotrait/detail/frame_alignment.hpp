// Frames aligned beyond 16 bytes: how large an alignment a frame may need, and how such a frame is
// placed inside a larger block behind a second, displaced record.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/detail/frame_selection.hpp>

#include <cstddef>
#include <cstdint>

#if defined(__GNUC__) || defined(__clang__)
#define COTRAIT_DETAIL_ALWAYS_INLINE_ALIGN __attribute__((always_inline)) inline
#else
#define COTRAIT_DETAIL_ALWAYS_INLINE_ALIGN inline
#endif

namespace cotrait::detail {

// COTRAIT_MAX_FRAME_ALIGNMENT is defined in config.hpp.
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

// `inner` is a frame of `frame_size + align` bytes with a record in front (16-aligned): the
// `align`-aligned frame of `frame_size` bytes inside it, behind a displaced record if it moved.
COTRAIT_DETAIL_ALWAYS_INLINE_ALIGN void* place_aligned_frame(void* inner,
                                                             std::size_t align) noexcept {
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

// Off the hot path: `alloc(n)` returns a frame with a record in front (16-aligned). It is asked
// for `align` more bytes so that an `align`-aligned frame fits after a second record.
template <class Alloc>
COTRAIT_NOINLINE void* allocate_aligned_frame(std::size_t frame_size, std::size_t align,
                                              Alloc alloc) {
    return place_aligned_frame(alloc(frame_size + align), align);
}

// The run-time policy's allocation of a frame that needs (or, on GCC, may need: any size that is a
// multiple of 32) `align` > 16: inline, so that such frames cost little more than others when the
// recycling caches serve them (static_task<int> is 64 bytes on GCC). The frame sits in a block of
// the class of `frame_size + align`, moved up behind a displaced record when the block's frame is
// not aligned already; deallocate_sized_frame finds the block again without an indirect call.
COTRAIT_DETAIL_ALWAYS_INLINE_ALIGN void* allocate_overaligned_frame(std::size_t frame_size,
                                                                    std::size_t align) {
    return place_aligned_frame(allocate_frame(frame_size + align), align);
}

// Frees a frame of `frame_size` bytes from the run-time policy, given its size (sized
// deallocation): the recycling class is a constant, and a frame that may have been placed by
// allocate_overaligned_frame is found in its block inline. Anything else (another alignment than
// the size suggests, a resource's block, another thread's) goes down the slow path, which reads
// the records.
// `align` is the alignment beyond frame_granule the frame was allocated with (0 if none).
COTRAIT_DETAIL_ALWAYS_INLINE_ALIGN void deallocate_sized_frame(void* frame, std::size_t frame_size,
                                                               std::size_t align) noexcept {
    if (align == 0) {
        deallocate_frame(frame, frame_size);
        return;
    }
    frame_record* rec = static_cast<frame_record*>(frame) - 1;
    if (rec->owner == owner_displaced()) {
        rec = reinterpret_cast<frame_record*>(rec->block) - 1;
    }
    const std::size_t block = round_to_granule(frame_size + align + sizeof(frame_record));
    if (COTRAIT_LIKELY(rec->block == block && recycled_free_here(rec, block))) {
        return;
    }
    deallocate_frame_slow(rec);
}

// The same for a frame whose alignment is inferred from its size (operator new(size_t) made it
// with frame_overalignment, see dynamic_frame_policy).
COTRAIT_DETAIL_ALWAYS_INLINE_ALIGN void deallocate_sized_frame(void* frame,
                                                               std::size_t frame_size) noexcept {
    deallocate_sized_frame(frame, frame_size, frame_overalignment(frame_size));
}

} // namespace cotrait::detail
