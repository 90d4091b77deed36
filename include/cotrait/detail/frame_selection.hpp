// Where a frame whose allocator is chosen at run time comes from (per scope, per thread, the
// process default) and how any such frame goes back to its owner. The recycling and new/delete
// resources are recognised by address and called directly, which is why both are included.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/detail/recycling_cache.hpp>
#include <cotrait/new_delete.hpp>
#include <cotrait/recycling.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>

namespace cotrait::detail {

struct thread_frame_state {
    std::pmr::memory_resource* current;        // innermost scope, else thread default, else null
    std::pmr::memory_resource* scope_top;      // innermost frame_allocator_scope, or null
    std::pmr::memory_resource* thread_default; // set_this_thread_frame_resource, or null
};
inline constinit thread_local thread_frame_state tls_frames{};

// Null means the built-in recycling resource, so the common case needs no pointer comparison.
inline constinit std::atomic<std::pmr::memory_resource*> g_default_frame_resource{nullptr};

struct alignas(8) dealloc_record {
    void (*deallocate)(void* block, std::size_t bytes) noexcept;
};

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

} // namespace cotrait::detail
