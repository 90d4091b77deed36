// Frames aligned beyond 16 bytes: how large an alignment a frame may need, and how such a frame is
// placed inside a larger block behind a second, displaced record.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/detail/frame_selection.hpp>

#include <cstddef>
#include <cstdint>

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

} // namespace cotrait::detail
