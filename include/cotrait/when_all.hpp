// when_all: await several awaitables concurrently and collect all their results.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/recycling.hpp>

#include <array>
#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <memory>
#include <ranges>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace cotrait {

/// The element `when_all(...)` puts in its result tuple for an awaitable whose result is void: an
/// empty placeholder, so a tuple position exists for every argument.
struct void_result {
    friend constexpr bool operator==(void_result /*a*/, void_result /*b*/) noexcept { return true; }
};

namespace detail {

// The tuple element for an awaitable of type A (awaited as an rvalue).
template <class A>
using when_all_element_t =
    std::conditional_t<std::is_void_v<stored_result_t<A>>, void_result, stored_result_t<A>>;

// The vector element for the range form: references are kept as reference_wrapper.
template <class A>
using when_all_range_element_t =
    std::conditional_t<std::is_reference_v<stored_result_t<A>>,
                       std::reference_wrapper<std::remove_reference_t<stored_result_t<A>>>,
                       stored_result_t<A>>;

// The part of when_all that does not depend on the children's types: who is resumed when the
// last child finishes, and which child failed first.
//
// `remaining_` starts at children + 1. Each finished child takes one off; the parent takes its one
// off after it has started every child. Whoever takes the last one resumes the parent (the parent
// itself by not suspending), so the parent resumes exactly once, on the thread of the last child
// to finish, and never before every child has finished.
class when_all_base {
public:
    static constexpr std::size_t no_error = static_cast<std::size_t>(-1);

    when_all_base(std::size_t children, std::stop_source stop) noexcept
        : remaining_(children + 1), stop_(std::move(stop)) {}
    when_all_base(const when_all_base&) = delete;
    when_all_base& operator=(const when_all_base&) = delete;

protected:
    struct child_slot {
        when_all_base* base;
        std::size_t index;
    };

    template <class R>
    static std::coroutine_handle<>
    on_child_done(void* ctx, std::coroutine_handle<driver_promise<R>> self) noexcept {
        auto* slot = static_cast<child_slot*>(ctx);
        return slot->base->child_done(slot->index, self.promise().failed());
    }

    std::coroutine_handle<> child_done(std::size_t index, bool failed) noexcept {
        if (failed) {
            std::size_t expected = no_error;
            if (first_error_.compare_exchange_strong(expected, index, std::memory_order_acq_rel)) {
                // Siblings that watch this source stop early; this source never reaches the
                // parent's own token.
                stop_.request_stop();
            }
        }
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            return parent_;
        }
        return {};
    }

    // After every child was started: true if the parent must suspend (some child still runs).
    bool parent_started_all() noexcept {
        return remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1;
    }

    [[nodiscard]] std::size_t first_error() const noexcept {
        return first_error_.load(std::memory_order_acquire);
    }

    void reset_for_move(std::size_t children) noexcept {
        remaining_.store(children + 1, std::memory_order_relaxed);
    }

    std::atomic<std::size_t> remaining_;
    std::atomic<std::size_t> first_error_{no_error};
    std::coroutine_handle<> parent_{};
    std::stop_source stop_;
};

[[noreturn]] inline void when_all_moved_after_start() noexcept {
    std::fputs("cotrait: a when_all awaitable was moved after it was awaited\n", stderr);
    std::abort();
}

// when_all(a, b, ...): a fixed set of heterogeneous awaitables.
template <class... As>
class when_all_awaitable : public when_all_base {
    static constexpr std::size_t n = sizeof...(As);

public:
    using result_type = std::tuple<when_all_element_t<As>...>;

    template <class... Args>
    explicit when_all_awaitable(std::stop_source stop, Args&&... args)
        : when_all_base(n, std::move(stop)), children_(std::forward<Args>(args)...) {}

    // Movable until awaited (e.g. into an async_scope); the children move with it.
    when_all_awaitable(when_all_awaitable&& other)
        : when_all_base(n, std::move(other.stop_)), children_(std::move(other.children_)) {
        if (other.started_) {
            when_all_moved_after_start();
        }
    }
    when_all_awaitable& operator=(when_all_awaitable&&) = delete;

    ~when_all_awaitable() {
        std::apply([](auto&... h) { (destroy_if(h), ...); }, handles_);
    }

    bool await_ready() const noexcept { return n == 0; }

    bool await_suspend(std::coroutine_handle<> parent) {
        started_ = true;
        parent_ = parent;
        // Every driver frame is allocated before any child starts, so an allocation failure
        // leaves nothing running (the frames made so far are freed by the destructor).
        create(std::index_sequence_for<As...>{});
        std::apply([](auto&... h) { (resume_root(h), ...); }, handles_);
        return parent_started_all();
    }

    result_type await_resume() {
        if constexpr (n == 0) {
            return {};
        } else {
            const std::size_t failed = first_error();
            if (failed != no_error) {
                rethrow(failed, std::index_sequence_for<As...>{});
            }
            return take_all(std::index_sequence_for<As...>{});
        }
    }

private:
    template <class H>
    static void destroy_if(H& h) noexcept {
        if (h) {
            std::exchange(h, {}).destroy();
        }
    }

    template <std::size_t... I>
    void create(std::index_sequence<I...> /*unused*/) {
        ((std::get<I>(handles_) =
              make_driver<stored_result_t<As>, As&>(std::get<I>(children_)).release()),
         ...);
        ((slots_[I] = child_slot{this, I}), ...);
        (std::get<I>(handles_).promise().set_completion(
             &slots_[I], &when_all_base::on_child_done<stored_result_t<As>>),
         ...);
    }

    template <std::size_t... I>
    void rethrow(std::size_t failed, std::index_sequence<I...> /*unused*/) {
        // take() on the failed child's promise rethrows its exception.
        ((I == failed ? (void)std::get<I>(handles_).promise().take() : void()), ...);
    }

    template <std::size_t I>
    auto take_one() -> std::tuple_element_t<I, result_type> {
        if constexpr (std::is_void_v<stored_result_t<std::tuple_element_t<I, std::tuple<As...>>>>) {
            std::get<I>(handles_).promise().take();
            return void_result{};
        } else {
            return std::get<I>(handles_).promise().take();
        }
    }

    template <std::size_t... I>
    result_type take_all(std::index_sequence<I...> /*unused*/) {
        // Braced initialisation: taken in order.
        return result_type{take_one<I>()...};
    }

    std::tuple<As...> children_;
    std::tuple<typename driver<stored_result_t<As>>::handle...> handles_{};
    std::array<child_slot, n> slots_{};
    bool started_ = false;
};

// The allocator of when_all's per-child storage: the recycling caches, so that a fan-out that
// finishes on another thread gives the block back to the thread that made it, and a steady stream
// of when_alls allocates nothing from the global heap.
template <class E>
using when_all_storage_allocator =
    std::conditional_t<alignof(E) <= frame_granule, recycling_allocator<E>, std::allocator<E>>;

// when_all(range): any number of awaitables of one type.
template <class A>
class when_all_range_awaitable : public when_all_base {
    using stored = stored_result_t<A>;
    using handle = typename driver<stored>::handle;

    // 16 bytes for a task child: a fan-out of up to 255 fits one recycled block.
    struct entry {
        template <class Arg>
        explicit entry(Arg&& a) : child(std::forward<Arg>(a)) {}
        A child;
        handle h{};
    };
    using entries = std::vector<entry, when_all_storage_allocator<entry>>;

public:
    using result_type =
        std::conditional_t<std::is_void_v<stored>, void, std::vector<when_all_range_element_t<A>>>;

    // The range's elements are moved into storage of the awaitable's own; the range keeps its
    // (moved-from) elements and its buffer, so a caller can refill and reuse it.
    template <class R>
    when_all_range_awaitable(std::stop_source stop, R&& range) : when_all_base(0, std::move(stop)) {
        if constexpr (std::ranges::sized_range<R>) {
            entries_.reserve(static_cast<std::size_t>(std::ranges::size(range)));
        }
        for (auto&& a : range) {
            entries_.emplace_back(std::move(a));
        }
    }

    when_all_range_awaitable(when_all_range_awaitable&& other)
        : when_all_base(0, std::move(other.stop_)), entries_(std::move(other.entries_)) {
        if (other.started_) {
            when_all_moved_after_start();
        }
    }
    when_all_range_awaitable& operator=(when_all_range_awaitable&&) = delete;

    ~when_all_range_awaitable() {
        for (entry& e : entries_) {
            if (e.h) {
                e.h.destroy();
            }
        }
    }

    bool await_ready() const noexcept { return entries_.empty(); }

    bool await_suspend(std::coroutine_handle<> parent) {
        started_ = true;
        parent_ = parent;
        reset_for_move(entries_.size());
        // Every driver frame is made before any child starts (see the variadic form).
        for (entry& e : entries_) {
            e.h = make_driver<stored, A&>(e.child).release();
            e.h.promise().set_completion(this, &when_all_range_awaitable::on_done);
        }
        for (entry& e : entries_) {
            resume_root(e.h);
        }
        return parent_started_all();
    }

    result_type await_resume() {
        if (void* failed = failed_.load(std::memory_order_acquire); failed != nullptr) {
            handle::from_address(failed).promise().take(); // rethrows
        }
        if constexpr (std::is_void_v<stored>) {
            return;
        } else {
            result_type out;
            out.reserve(entries_.size());
            for (entry& e : entries_) {
                out.emplace_back(e.h.promise().take());
            }
            return out;
        }
    }

private:
    // As when_all_base::child_done, with the failed child named by its driver frame instead of an
    // index, so that no per-child slot is needed.
    static std::coroutine_handle<> on_done(void* ctx, handle self) noexcept {
        auto* me = static_cast<when_all_range_awaitable*>(ctx);
        if (self.promise().failed()) {
            void* expected = nullptr;
            if (me->failed_.compare_exchange_strong(expected, self.address(),
                                                    std::memory_order_acq_rel)) {
                me->stop_.request_stop();
            }
        }
        if (me->remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            return me->parent_;
        }
        return {};
    }

    entries entries_;
    std::atomic<void*> failed_{nullptr};
    bool started_ = false;
};

// The awaitables of an rvalue range, as a std::vector (when_any's range form keeps them so).
template <class R>
auto collect_range(R&& r) {
    static_assert(!std::is_lvalue_reference_v<R>,
                  "cotrait: pass the range as an rvalue (std::move(tasks)); its awaitables are "
                  "moved into the awaitable that awaits them");
    using A = std::ranges::range_value_t<R>;
    if constexpr (std::is_same_v<std::remove_cvref_t<R>, std::vector<A>>) {
        return std::vector<A>(std::move(r));
    } else {
        std::vector<A> v;
        for (auto&& a : r) {
            v.push_back(std::move(a));
        }
        return v;
    }
}

template <class R>
void check_range_is_rvalue() {
    static_assert(!std::is_lvalue_reference_v<R>,
                  "cotrait::when_all(range): pass the range as an rvalue (std::move(tasks)); "
                  "its awaitables are moved into the when_all");
}

template <class R>
concept awaitable_range = std::ranges::input_range<R> && awaitable<std::ranges::range_value_t<R>>;

} // namespace detail

/// Awaits every argument concurrently and yields their results as a
/// `std::tuple<R1, R2, ...>` in argument order, where a void result becomes `void_result` and a
/// reference result stays a reference.
///
/// The arguments are moved (or copied) into the returned awaitable. When it is awaited, each one is
/// awaited by a small driver coroutine of its own; the drivers are started one after another on
/// the awaiting thread, each running until its awaitable first suspends, so children that move to
/// an executor (`co_await pool.schedule()`, I/O) run concurrently. The awaiting coroutine resumes
/// once all of them have finished, on the thread where the last one finished. If any failed, the
/// exception of the first to fail (in completion order) is rethrown after all have finished; the
/// other results and exceptions are dropped. Awaitable once; movable only before it is awaited.
template <awaitable... As>
[[nodiscard]] auto when_all(As&&... as) {
    return detail::when_all_awaitable<std::remove_cvref_t<As>...>(
        std::stop_source(std::nostopstate), std::forward<As>(as)...);
}

/// As `when_all(as...)`, and the first child to fail calls `stop.request_stop()`, so siblings that
/// watch `stop.get_token()` can end early (typically with `operation_cancelled`, which is dropped
/// in favour of the first failure). To also stop the children when the caller is cancelled, pass a
/// `linked_stop_source`'s `source()`.
template <awaitable... As>
[[nodiscard]] auto when_all(std::stop_source stop, As&&... as) {
    return detail::when_all_awaitable<std::remove_cvref_t<As>...>(std::move(stop),
                                                                  std::forward<As>(as)...);
}

/// Awaits every element of `range` (an rvalue range of awaitables, moved into the returned
/// awaitable) concurrently, as the variadic form does, and yields a `std::vector` of their results
/// in range order (`void` if the elements' result is void; `std::reference_wrapper` for reference
/// results). An empty range completes at once.
template <detail::awaitable_range R>
[[nodiscard]] auto when_all(R&& range) {
    using A = std::ranges::range_value_t<R>;
    detail::check_range_is_rvalue<R>();
    return detail::when_all_range_awaitable<A>(std::stop_source(std::nostopstate), range);
}

/// As `when_all(range)`, and the first child to fail calls `stop.request_stop()`.
template <detail::awaitable_range R>
[[nodiscard]] auto when_all(std::stop_source stop, R&& range) {
    using A = std::ranges::range_value_t<R>;
    detail::check_range_is_rvalue<R>();
    return detail::when_all_range_awaitable<A>(std::move(stop), range);
}

} // namespace cotrait
