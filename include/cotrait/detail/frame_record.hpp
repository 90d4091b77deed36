// The 16-byte record in front of every frame whose allocator is chosen at run time, and the
// encoding of its owner word.
#pragma once

#include <cotrait/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace cotrait::detail {

inline constexpr std::size_t frame_granule = 16;

constexpr std::size_t round_to_granule(std::size_t n) noexcept {
    return (n + frame_granule - 1) & ~(frame_granule - 1);
}

// Bytes a request may ask for before rounding it (plus a record and alignment slack) could wrap
// around: such requests throw std::bad_alloc instead of silently becoming small ones.
inline constexpr std::size_t max_request_bytes = std::size_t{1} << (sizeof(std::size_t) * 8 - 2);

[[noreturn]] COTRAIT_NOINLINE inline void throw_bad_alloc() {
#if COTRAIT_EXCEPTIONS
    throw std::bad_alloc();
#else
    std::fputs("cotrait: allocation request too large (std::bad_alloc with exceptions off)\n",
               stderr);
    std::abort();
#endif
}

inline void global_free(void* p, [[maybe_unused]] std::size_t n) noexcept {
#if COTRAIT_SIZED_DEALLOCATION
    ::operator delete(p, n);
#else
    ::operator delete(p);
#endif
}

// `owner` says who takes the block back; its two low bits say what the rest is (every pointer
// stored here is at least 4-aligned):
//   owner_tag_resource  (0)  a std::pmr::memory_resource*
//   owner_tag_dealloc   (1)  a dealloc_record* (standard allocators, displaced over-aligned frames)
//   owner_tag_recycling (2)  the recycling inbox of the thread that allocated the block
//   owner_new_delete    (3)  exactly: the global operator new/delete, no pointer
// 0 itself is never a valid owner, so a thread whose recycling cache is not in use can compare
// records against a tag of 0 and never match.
struct alignas(frame_granule) frame_record {
    std::uintptr_t owner;
    std::size_t block; // bytes obtained from the owner, record included
};
static_assert(sizeof(frame_record) == frame_granule);

inline constexpr std::uintptr_t owner_tag_mask = 3;
inline constexpr std::uintptr_t owner_tag_resource = 0;
inline constexpr std::uintptr_t owner_tag_dealloc = 1;
inline constexpr std::uintptr_t owner_tag_recycling = 2;
inline constexpr std::uintptr_t owner_new_delete = 3;

inline void* stamp_frame(void* block, std::uintptr_t owner, std::size_t bytes) noexcept {
    auto* rec = static_cast<frame_record*>(block);
    rec->owner = owner;
    rec->block = bytes;
    return rec + 1;
}

} // namespace cotrait::detail
