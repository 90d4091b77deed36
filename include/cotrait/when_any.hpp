// when_any: await several awaitables concurrently; the first to complete wins.
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/config.hpp>
#include <cotrait/detail/driver.hpp>
#include <cotrait/detail/throw.hpp>
#include <cotrait/detail/transfer.hpp>
#include <cotrait/when_all.hpp>

#include <array>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace cotrait {

/// The result of the variadic `when_any(a, b, ...)`: which argument won (`index`, 0-based) and its
/// result, in the variant alternative of the same index (`void` results are `void_result`,
/// references are `std::reference_wrapper`).
template <class... Ts>
struct when_any_result {
    std::size_t index;
    std::variant<Ts...> value;
};

/// The result of the range `when_any(range)`: the winner's position in the range and its result.
template <class T>
struct when_any_range_result {
    std::size_t index;
    T value;
};

/// The result of the range `when_any(range)` when the elements' result is void.
template <>
struct when_any_range_result<void> {
    std::size_t index;
};

namespace detail {

template <class A>
using when_any_element_t = std::conditional_t<
    std::is_void_v<stored_result_t<A>>, void_result,
    std::conditional_t<std::is_reference_v<stored_result_t<A>>,
                       std::reference_wrapper<std::remove_reference_t<stored_result_t<A>>>,
                       stored_result_t<A>>>;

// The type-independent part: who won, and who resumes the parent.
//
// `remaining_` starts at children + 1 (as in when_all): each finished child takes one off, and the
// parent takes its one off after starting every child; whoever takes the last resumes the parent.
// The first child to finish (successfully or not) wins the compare-exchange on `winner_` and asks
// the others to stop through the stop source. The parent therefore resumes once, after every child
// has finished, on the thread of the last one.
class when_any_base {
public:
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    when_any_base(std::size_t children, std::stop_source stop) noexcept
        : remaining_(children + 1), stop_(std::move(stop)) {}
    when_any_base(const when_any_base&) = delete;
    when_any_base& operator=(const when_any_base&) = delete;

protected:
    struct child_slot {
        when_any_base* base;
        std::size_t index;
    };

    template <class R>
    static std::coroutine_handle<>
    on_child_done(void* ctx, std::coroutine_handle<driver_promise<R>> /*self*/) noexcept {
        auto* slot = static_cast<child_slot*>(ctx);
        return slot->base->child_done(slot->index);
    }

    std::coroutine_handle<> child_done(std::size_t index) noexcept {
        std::size_t expected = none;
        if (winner_.compare_exchange_strong(expected, index, std::memory_order_acq_rel)) {
            stop_.request_stop();
        }
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            return parent_;
        }
        return {};
    }

    bool parent_started_all() noexcept {
        return remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1;
    }

    [[nodiscard]] std::size_t winner() const noexcept {
        return winner_.load(std::memory_order_acquire);
    }

    void reset_for_move(std::size_t children) noexcept {
        remaining_.store(children + 1, std::memory_order_relaxed);
    }

    std::atomic<std::size_t> remaining_;
    std::atomic<std::size_t> winner_{none};
    std::coroutine_handle<> parent_{};
    std::stop_source stop_;
};

[[noreturn]] inline void when_any_moved_after_start() noexcept {
    std::fputs("cotrait: a when_any awaitable was moved after it was awaited\n", stderr);
    std::abort();
}

template <class... As>
class when_any_awaitable : public when_any_base {
    static constexpr std::size_t n = sizeof...(As);
    static_assert(n > 0, "cotrait::when_any needs at least one awaitable");

public:
    using result_type = when_any_result<when_any_element_t<As>...>;

    template <class... Args>
    explicit when_any_awaitable(std::stop_source stop, Args&&... args)
        : when_any_base(n, std::move(stop)), children_(std::forward<Args>(args)...) {}

    when_any_awaitable(when_any_awaitable&& other)
        : when_any_base(n, std::move(other.stop_)), children_(std::move(other.children_)) {
        if (other.started_) {
            when_any_moved_after_start();
        }
    }
    when_any_awaitable& operator=(when_any_awaitable&&) = delete;

    ~when_any_awaitable() {
        std::apply([](auto&... h) { (destroy_if(h), ...); }, handles_);
    }

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> parent) {
        started_ = true;
        parent_ = parent;
        // All frames first: a failed allocation leaves nothing running.
        create(std::index_sequence_for<As...>{});
        std::apply([](auto&... h) { (resume_root(h), ...); }, handles_);
        return parent_started_all();
    }

    result_type await_resume() { return take(winner(), std::index_sequence_for<As...>{}); }

    // For with_timeout, once awaited: which child finished first (failed or not), whether child
    // I finished without an exception, and its result whether it won or not (a late result that
    // must not be dropped).
    [[nodiscard]] std::size_t winner_index() const noexcept { return winner(); }
    template <std::size_t I>
    [[nodiscard]] bool succeeded() const noexcept {
        return !std::get<I>(handles_).promise().failed();
    }
    template <std::size_t I>
    result_type take_child() {
        std::optional<result_type> out;
        take_one<I>(out);
        return std::move(*out);
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
             &slots_[I], &when_any_base::on_child_done<stored_result_t<As>>),
         ...);
    }

    template <std::size_t I>
    void take_one(std::optional<result_type>& out) {
        using A = std::tuple_element_t<I, std::tuple<As...>>;
        // take() rethrows the winner's exception.
        if constexpr (std::is_void_v<stored_result_t<A>>) {
            std::get<I>(handles_).promise().take();
            out.emplace(result_type{
                I, std::variant<when_any_element_t<As>...>(std::in_place_index<I>, void_result{})});
        } else {
            out.emplace(result_type{
                I, std::variant<when_any_element_t<As>...>(
                       std::in_place_index<I>, std::get<I>(handles_).promise().take())});
        }
    }

    template <std::size_t... I>
    result_type take(std::size_t w, std::index_sequence<I...> /*unused*/) {
        std::optional<result_type> out;
        ((I == w ? take_one<I>(out) : void()), ...);
        return std::move(*out);
    }

    std::tuple<As...> children_;
    std::tuple<typename driver<stored_result_t<As>>::handle...> handles_{};
    std::array<child_slot, n> slots_{};
    bool started_ = false;
};

template <class A>
class when_any_range_awaitable : public when_any_base {
    using stored = stored_result_t<A>;
    using handle = typename driver<stored>::handle;
    using element =
        std::conditional_t<std::is_reference_v<stored>,
                           std::reference_wrapper<std::remove_reference_t<stored>>, stored>;

public:
    using result_type = when_any_range_result<element>;

    when_any_range_awaitable(std::stop_source stop, std::vector<A> children)
        : when_any_base(children.size(), std::move(stop)), children_(std::move(children)) {
        if (children_.empty()) {
            detail::throw_exception(
                std::invalid_argument("cotrait::when_any: the range is empty, nothing can win"));
        }
    }
    when_any_range_awaitable(when_any_range_awaitable&& other)
        : when_any_base(other.children_.size(), std::move(other.stop_)),
          children_(std::move(other.children_)) {
        if (other.started_) {
            when_any_moved_after_start();
        }
    }
    when_any_range_awaitable& operator=(when_any_range_awaitable&&) = delete;

    ~when_any_range_awaitable() {
        for (handle h : handles_) {
            h.destroy();
        }
    }

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> parent) {
        started_ = true;
        parent_ = parent;
        reset_for_move(children_.size());
        slots_.resize(children_.size());
        handles_.reserve(children_.size());
        for (std::size_t i = 0; i < children_.size(); ++i) {
            handles_.push_back(make_driver<stored, A&>(children_[i]).release());
            slots_[i] = child_slot{this, i};
            handles_.back().promise().set_completion(&slots_[i],
                                                     &when_any_base::on_child_done<stored>);
        }
        for (handle h : handles_) {
            resume_root(h);
        }
        return parent_started_all();
    }

    result_type await_resume() {
        const std::size_t w = winner();
        if constexpr (std::is_void_v<stored>) {
            handles_[w].promise().take();
            return result_type{w};
        } else {
            return result_type{w, handles_[w].promise().take()};
        }
    }

private:
    std::vector<A> children_;
    std::vector<handle> handles_;
    std::vector<child_slot> slots_;
    bool started_ = false;
};

} // namespace detail

/// Awaits every argument concurrently and yields a `when_any_result` naming the first to
/// complete and holding its result; if the first to complete failed, its exception is rethrown.
///
/// Every argument is still awaited to the end before the `co_await` completes (no detached work:
/// nothing outlives the when_any). The arguments are moved into the returned awaitable and each is
/// awaited by a driver coroutine of its own (a frame from the recycling allocator, as for
/// `when_all`), started in order on the awaiting thread. The awaiting coroutine resumes on the
/// thread where the last child finished. The losers' results and exceptions are dropped.
///
/// This form cannot interrupt the losers; use `when_any(stop_source, ...)` to ask them to stop.
template <awaitable... As>
[[nodiscard]] auto when_any(As&&... as) {
    return detail::when_any_awaitable<std::remove_cvref_t<As>...>(
        std::stop_source(std::nostopstate), std::forward<As>(as)...);
}

/// As `when_any(as...)`, and the first child to complete calls `stop.request_stop()`, so losers
/// that watch `stop.get_token()` end early (typically with `operation_cancelled`, dropped). To
/// also stop the children when the caller is cancelled, pass a `linked_stop_source`'s `source()`.
template <awaitable... As>
[[nodiscard]] auto when_any(std::stop_source stop, As&&... as) {
    return detail::when_any_awaitable<std::remove_cvref_t<As>...>(std::move(stop),
                                                                  std::forward<As>(as)...);
}

/// Awaits every element of `range` (an rvalue range of awaitables, moved in) concurrently and
/// yields a `when_any_range_result` with the position and result of the first to complete, as
/// the variadic form does. Throws std::invalid_argument for an empty range.
template <detail::awaitable_range R>
[[nodiscard]] auto when_any(R&& range) {
    using A = std::ranges::range_value_t<R>;
    return detail::when_any_range_awaitable<A>(std::stop_source(std::nostopstate),
                                               detail::collect_range(std::forward<R>(range)));
}

/// As `when_any(range)`, and the first child to complete calls `stop.request_stop()`.
template <detail::awaitable_range R>
[[nodiscard]] auto when_any(std::stop_source stop, R&& range) {
    using A = std::ranges::range_value_t<R>;
    return detail::when_any_range_awaitable<A>(std::move(stop),
                                               detail::collect_range(std::forward<R>(range)));
}

} // namespace cotrait
