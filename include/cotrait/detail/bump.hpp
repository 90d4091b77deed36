// What the arena and inline_resource resources share: bump allocation inside a buffer, and the
// fatal diagnostic for a resource released while frames allocated from it are still alive.
#pragma once

#include <cotrait/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

// COTRAIT_ARENA_CHECKS (config.hpp) turns on the fatal_live_frames diagnostic.

namespace cotrait::detail {

// The next address at or after `at` aligned to `align` (a power of two), or 0 if none fits before
// `end`.
inline std::uintptr_t bump_fit(std::uintptr_t at, std::uintptr_t end, std::size_t bytes,
                               std::size_t align) noexcept {
    const std::uintptr_t p = (at + align - 1) & ~static_cast<std::uintptr_t>(align - 1);
    if (p < at || p > end || end - p < bytes) {
        return 0;
    }
    return p;
}

[[noreturn]] COTRAIT_NOINLINE inline void fatal_live_frames(const char* what, const char* action,
                                                            std::size_t live) noexcept {
    std::fprintf(stderr,
                 "cotrait: %s %s while %zu allocation(s) from it are still alive: a frame would "
                 "later be destroyed in memory that is gone (destroy every task that uses it "
                 "first)\n",
                 what, action, live);
    std::abort();
}

} // namespace cotrait::detail
