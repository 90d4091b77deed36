// Frames in a fixed buffer owned by the caller: the analog of Rust's stackfuture.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/bump.hpp>
#include <cotrait/new_delete.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory_resource>
#include <new>

namespace cotrait {

/// What an `inline_resource` does with a frame that does not fit in its buffer.
enum class overflow_policy {
    error, ///< throw `frame_overflow` (abort with the message without exceptions)
    heap,  ///< take the frame from the upstream resource instead (counted in `overflows()`)
};

/// Thrown when a frame does not fit in an `inline_resource` with `overflow_policy::error`. It is a
/// `std::bad_alloc`, so the coroutine call that needed the frame throws it before its body runs.
class frame_overflow : public std::bad_alloc {
public:
    frame_overflow(std::size_t requested, std::size_t available, std::size_t capacity) noexcept
        : requested_(requested), available_(available), capacity_(capacity) {
        std::snprintf(what_, sizeof what_,
                      "cotrait: a coroutine frame block of %zu bytes does not fit in an "
                      "inline_resource of %zu bytes (%zu free)",
                      requested, capacity, available);
    }
    [[nodiscard]] const char* what() const noexcept override { return what_; }
    /// Bytes the allocation asked for.
    [[nodiscard]] std::size_t requested() const noexcept { return requested_; }
    /// Bytes that were still free in the buffer.
    [[nodiscard]] std::size_t available() const noexcept { return available_; }
    /// The buffer's size.
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

private:
    std::size_t requested_;
    std::size_t available_;
    std::size_t capacity_;
    char what_[160];
};

/// A `std::pmr::memory_resource` holding an `N`-byte buffer inside itself: put one on the stack
/// (or in an object) and pass it to a call, `co_await obj.method(std::allocator_arg, storage)`,
/// or install it with a `frame_allocator_scope`, and the frames come from the buffer without
/// touching any heap.
///
/// Frames are bump-allocated: the frames of a call chain (nested calls) fit as long as they fit
/// together; freeing the most recent one gives its bytes back, and once none is alive the buffer
/// starts over, so a loop of calls reuses it. A frame that does not fit is handled per `Policy`:
/// `error` throws `frame_overflow` (a `std::bad_alloc`), `heap` allocates it from the upstream
/// resource (default: `cotrait::global_new_delete_resource()`). `high_water()` tells how large `N`
/// needed to be. Each frame needs its size plus the 16-byte record plus alignment padding.
///
/// The storage must outlive every frame allocated from it, including heap-fallback ones (they are
/// freed through it); debug builds (COTRAIT_ARENA_CHECKS) abort with a message if it is destroyed
/// while some are alive. It is neither copyable nor
/// movable (frames point into it) and not synchronized (one thread at a time).
template <std::size_t N, overflow_policy Policy = overflow_policy::error>
class inline_resource final : public std::pmr::memory_resource {
    static_assert(N > 0, "inline_resource needs a non-empty buffer");

public:
    /// Storage whose `heap` overflow goes to `upstream` (null:
    /// cotrait::global_new_delete_resource()).
    explicit inline_resource(std::pmr::memory_resource* upstream = nullptr) noexcept
        : upstream_(upstream != nullptr ? upstream : global_new_delete_resource()) {}
    inline_resource(const inline_resource&) = delete;
    inline_resource& operator=(const inline_resource&) = delete;
    ~inline_resource() override {
#if COTRAIT_ARENA_CHECKS
        // Heap-fallback frames count too: freeing them goes through this object.
        if (live_ + heap_live_ != 0) {
            detail::fatal_live_frames("inline_resource", "destroyed", live_ + heap_live_);
        }
#endif
    }

    /// The buffer's size in bytes.
    static constexpr std::size_t capacity() noexcept {
        return N;
    }
    /// Bytes of the buffer in use now.
    [[nodiscard]] std::size_t used() const noexcept {
        return used_;
    }
    /// The most bytes of the buffer ever in use at once.
    [[nodiscard]] std::size_t high_water() const noexcept {
        return high_water_;
    }
    /// Allocations from the buffer (not the heap fallback) not yet deallocated.
    [[nodiscard]] std::size_t live_allocations() const noexcept {
        return live_;
    }
    /// Allocations that did not fit and went to the upstream resource (`heap` policy).
    [[nodiscard]] std::size_t overflows() const noexcept {
        return overflows_;
    }

private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        const auto base = reinterpret_cast<std::uintptr_t>(buffer_);
        if (const std::uintptr_t p = detail::bump_fit(base + used_, base + N, bytes, alignment);
            COTRAIT_LIKELY(p != 0)) {
            used_ = p + bytes - base;
            if (used_ > high_water_) {
                high_water_ = used_;
            }
            ++live_;
            return reinterpret_cast<void*>(p);
        }
        return overflow(bytes, alignment);
    }

    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
        const auto at = reinterpret_cast<std::uintptr_t>(p);
        const auto base = reinterpret_cast<std::uintptr_t>(buffer_);
        if (at - base >= N) { // not from the buffer: the heap fallback
            --heap_live_;
            upstream_->deallocate(p, bytes, alignment);
            return;
        }
        if (--live_ == 0) {
            used_ = 0;
        } else if (at + bytes == base + used_) {
            used_ = at - base;
        }
    }

    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
        return this == &other;
    }

    COTRAIT_NOINLINE void* overflow(std::size_t bytes, std::size_t alignment) {
        if constexpr (Policy == overflow_policy::heap) {
            void* p = upstream_->allocate(bytes, alignment);
            ++overflows_;
            ++heap_live_;
            return p;
        } else {
            const std::size_t available = N - used_;
#if COTRAIT_EXCEPTIONS
            throw frame_overflow(bytes, available, N);
#else
            std::fputs(frame_overflow(bytes, available, N).what(), stderr);
            std::fputc('\n', stderr);
            std::abort();
#endif
        }
    }

    alignas(std::max_align_t) unsigned char buffer_[N];
    std::pmr::memory_resource* upstream_;
    std::size_t used_ = 0;
    std::size_t high_water_ = 0;
    std::size_t live_ = 0;
    std::size_t overflows_ = 0;
    std::size_t heap_live_ = 0;
};

/// Deprecated name of `inline_resource` (a resource's name ends in `_resource`).
template <std::size_t N, overflow_policy Policy = overflow_policy::error>
using inline_storage [[deprecated("use cotrait::inline_resource")]] = inline_resource<N, Policy>;

} // namespace cotrait
