// A monotonic arena for coroutine frames: bump allocation, everything released at once.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/bump.hpp>
#include <cotrait/detail/frame_record.hpp>
#include <cotrait/new_delete.hpp>

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>

namespace cotrait {

/// A `std::pmr::memory_resource` for frames that live and die together (a request, a batch):
/// allocation bumps a pointer, deallocation is (almost) free, and `release()` or the destructor
/// gives everything back at once.
///
/// Memory comes first from a caller-provided buffer, if any, then from blocks obtained from the
/// upstream resource, each twice the size of the previous one. With
/// `std::pmr::null_memory_resource()` as upstream the arena never grows: an allocation that does
/// not fit throws `std::bad_alloc` (and so does the coroutine call that needed it).
///
/// Unlike `std::pmr::monotonic_buffer_resource`, memory is reused in two cases: freeing the most
/// recent allocation gives its bytes back (frames of nested calls and of a loop of calls die in
/// LIFO order, so such code runs in constant space), and once no allocation is alive the current
/// block starts over.
///
/// Every allocation must be deallocated before `release()` or the destructor: a frame outliving
/// its arena would be destroyed in memory that is gone. Debug builds (COTRAIT_ARENA_CHECKS, on
/// unless NDEBUG) check this and abort with a message when `release()` or the destructor finds
/// live allocations.
///
/// Not synchronized: allocate from it and destroy its frames on one thread at a time.
class arena_resource final : public std::pmr::memory_resource {
public:
    /// Size of the first block obtained from upstream when none is given.
    static constexpr std::size_t default_block_size = 4096;

    /// An arena that takes its blocks from `upstream` (null:
    /// cotrait::global_new_delete_resource()).
    explicit arena_resource(std::pmr::memory_resource* upstream = nullptr) noexcept
        : arena_resource(nullptr, 0, default_block_size, upstream) {}
    /// An arena whose first upstream block has `first_block_size` bytes.
    arena_resource(std::size_t first_block_size, std::pmr::memory_resource* upstream) noexcept
        : arena_resource(nullptr, 0, first_block_size, upstream) {}
    /// An arena that allocates from `buffer` (`size` bytes, owned by the caller, which must
    /// outlive the arena) before it asks `upstream` for blocks.
    arena_resource(void* buffer, std::size_t size,
                   std::pmr::memory_resource* upstream = nullptr) noexcept
        : arena_resource(buffer, size, size > default_block_size ? size : default_block_size,
                         upstream) {}

    arena_resource(const arena_resource&) = delete;
    arena_resource& operator=(const arena_resource&) = delete;

    /// Gives every upstream block back. Debug builds abort if allocations are still alive.
    ~arena_resource() override {
#if COTRAIT_ARENA_CHECKS
        if (live_ != 0) {
            detail::fatal_live_frames("arena_resource", "destroyed", live_);
        }
#endif
        free_blocks();
    }

    /// Gives every upstream block back and starts over at the beginning of the caller's buffer.
    /// Debug builds abort if allocations are still alive.
    void release() noexcept {
#if COTRAIT_ARENA_CHECKS
        if (live_ != 0) {
            detail::fatal_live_frames("arena_resource", "released", live_);
        }
#endif
        free_blocks();
        live_ = 0;
        next_block_ = first_block_;
        start_ = cur_ = reinterpret_cast<std::uintptr_t>(buffer_);
        end_ = cur_ + buffer_size_;
    }

    /// Allocations not yet deallocated.
    [[nodiscard]] std::size_t live_allocations() const noexcept {
        return live_;
    }
    /// Blocks currently obtained from upstream.
    [[nodiscard]] std::size_t upstream_blocks() const noexcept {
        return block_count_;
    }
    /// Bytes handed out from the current block or buffer (alignment padding included).
    [[nodiscard]] std::size_t bytes_in_current_block() const noexcept {
        return cur_ - start_;
    }
    /// The resource the arena's blocks come from.
    [[nodiscard]] std::pmr::memory_resource* upstream() const noexcept {
        return upstream_;
    }

private:
    // Upstream blocks form a list through this header, placed at their start.
    struct alignas(std::max_align_t) block_header {
        block_header* prev;
        std::size_t bytes;
    };

    arena_resource(void* buffer, std::size_t size, std::size_t first_block,
                   std::pmr::memory_resource* upstream) noexcept
        : upstream_(upstream != nullptr ? upstream : global_new_delete_resource()), buffer_(buffer),
          buffer_size_(buffer != nullptr ? size : 0),
          first_block_(first_block < 2 * sizeof(block_header) ? 2 * sizeof(block_header)
                                                              : first_block),
          next_block_(first_block_), start_(reinterpret_cast<std::uintptr_t>(buffer)), cur_(start_),
          end_(start_ + buffer_size_) {}

    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
        if (const std::uintptr_t p = detail::bump_fit(cur_, end_, bytes, alignment);
            COTRAIT_LIKELY(p != 0)) {
            cur_ = p + bytes;
            ++live_;
            return reinterpret_cast<void*>(p);
        }
        return allocate_from_new_block(bytes, alignment);
    }

    void do_deallocate(void* p, std::size_t bytes, std::size_t /*alignment*/) override {
        const auto at = reinterpret_cast<std::uintptr_t>(p);
        if (--live_ == 0) {
            cur_ = start_;
        } else if (at + bytes == cur_) {
            cur_ = at;
        }
    }

    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
        return this == &other;
    }

    COTRAIT_NOINLINE void* allocate_from_new_block(std::size_t bytes, std::size_t alignment) {
        if (bytes > detail::max_request_bytes || alignment > detail::max_request_bytes) {
            detail::throw_bad_alloc(); // the block size below would wrap around
        }
        const std::size_t need = sizeof(block_header) + bytes + alignment;
        std::size_t size = next_block_;
        while (size < need) {
            size = size > need / 2 ? need : size * 2;
        }
        void* raw = upstream_->allocate(size, alignof(block_header));
        auto* h = ::new (raw) block_header{blocks_, size};
        blocks_ = h;
        ++block_count_;
        if (next_block_ < (std::size_t{1} << 26)) {
            next_block_ = size * 2;
        }
        start_ = reinterpret_cast<std::uintptr_t>(h + 1);
        end_ = reinterpret_cast<std::uintptr_t>(raw) + size;
        const std::uintptr_t p = detail::bump_fit(start_, end_, bytes, alignment);
        cur_ = p + bytes;
        ++live_;
        return reinterpret_cast<void*>(p);
    }

    void free_blocks() noexcept {
        while (blocks_ != nullptr) {
            block_header* h = blocks_;
            blocks_ = h->prev;
            upstream_->deallocate(h, h->bytes, alignof(block_header));
        }
        block_count_ = 0;
    }

    std::pmr::memory_resource* upstream_;
    void* buffer_;
    std::size_t buffer_size_;
    std::size_t first_block_;
    std::size_t next_block_;
    std::uintptr_t start_; // beginning of the current block or buffer
    std::uintptr_t cur_;
    std::uintptr_t end_;
    block_header* blocks_ = nullptr;
    std::size_t block_count_ = 0;
    std::size_t live_ = 0;
};

} // namespace cotrait
