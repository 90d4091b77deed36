// Where coroutine frames come from: per call, per scope, per thread, or the process default.
//
// Every frame that is allocated with a choice made at run time carries a 16-byte record in front of
// it: who owns the block and how large it is. That is what lets a `boxed_task<T>` be destroyed on
// any thread without its type depending on the allocator. The machinery lives in detail/:
// frame_record (the record), recycling_cache (the default), frame_selection (scope/thread/process
// choice), frame_alignment (over-aligned frames), frame_allocator_arg (per-call allocators) and
// frame_policy (the promise mix-ins).
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/frame_allocator_arg.hpp>
#include <cotrait/detail/frame_selection.hpp>
#include <cotrait/recycling.hpp>

#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <type_traits>

namespace cotrait {

/// Tag for `static_task<T, default_frame_allocator>` (the default): the frame resource is chosen
/// when the coroutine is called, exactly as for `boxed_task`.
struct default_frame_allocator {};

/// What can follow `std::allocator_arg` in a coroutine's parameter list to choose its frame's
/// allocator for that call: a `std::pmr::memory_resource` (by pointer or reference), a
/// `std::pmr::polymorphic_allocator`, or any standard Allocator. A null resource pointer means
/// "no choice for this call".
template <class A>
concept frame_allocator_arg = std::convertible_to<A, std::pmr::memory_resource*> ||
    std::derived_from<std::remove_cvref_t<A>, std::pmr::memory_resource> ||
    detail::is_polymorphic_allocator<std::remove_cvref_t<A>>::value ||
    detail::standard_allocator<std::remove_cvref_t<A>>;

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
inline void set_this_thread_frame_resource(std::pmr::memory_resource* r) noexcept {
    detail::thread_frame_state& s = detail::tls_frames;
    s.thread_default = r;
    if (s.scope_top == nullptr) {
        s.current = r;
    }
}

/// The calling thread's default frame resource, or `nullptr` if it has none.
inline std::pmr::memory_resource* this_thread_frame_resource() noexcept {
    return detail::tls_frames.thread_default;
}

/// Deprecated name of `set_this_thread_frame_resource` (per-thread functions say `this_thread`).
[[deprecated("use cotrait::set_this_thread_frame_resource()")]] inline void
set_thread_frame_resource(std::pmr::memory_resource* r) noexcept {
    set_this_thread_frame_resource(r);
}

/// Deprecated name of `this_thread_frame_resource`.
[[deprecated("use cotrait::this_thread_frame_resource()")]] inline std::pmr::memory_resource*
thread_frame_resource() noexcept {
    return this_thread_frame_resource();
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
