// Cooperative cancellation: the exception cancelled work ends with, and helpers for passing a
// std::stop_token down a tree of tasks.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/throw.hpp>

#include <exception>
#include <stop_token>
#include <utility>

namespace cotrait {

/// Thrown by cancellation-aware operations (`thread_pool::schedule(token)`,
/// `run_loop::schedule(token)`, `throw_if_cancelled`, asio operations awaited with
/// `use_task(token)`, a thread_pool or run_loop that shuts down with work still queued) when the
/// operation did not run because stop was requested. Cancelled work ends by letting it propagate:
/// it unwinds the coroutine like any exception, so every frame and local is destroyed by its owner.
class operation_cancelled : public std::exception {
public:
    [[nodiscard]] const char* what() const noexcept override {
        return "cotrait: operation cancelled";
    }
};

/// Throws `operation_cancelled` if stop was requested on `token`: the check a long-running task
/// makes between steps.
inline void throw_if_cancelled(const std::stop_token& token) {
    if (token.stop_requested()) {
        detail::throw_exception(operation_cancelled{});
    }
}

/// A stop source that is also stopped when a parent token is: the way a task hands cancellation
/// down to its children (e.g. through `when_all(source, ...)`) while still letting the children be
/// stopped on their own (first failure) without stopping the parent. Not movable: the link to the
/// parent refers to this object, so declare it as a local of the coroutine that owns the children.
class linked_stop_source {
public:
    /// A source stopped when `parent` is (at once if it already is).
    explicit linked_stop_source(const std::stop_token& parent)
        : link_(parent, forward_stop{source_}) {}
    linked_stop_source(const linked_stop_source&) = delete;
    linked_stop_source& operator=(const linked_stop_source&) = delete;

    /// The source itself (a copy shares the stop state).
    [[nodiscard]] std::stop_source source() const noexcept { return source_; }
    /// A token that reports stop once the parent or this source is stopped.
    [[nodiscard]] std::stop_token get_token() const noexcept { return source_.get_token(); }
    /// Requests stop for the children only.
    bool request_stop() noexcept { return source_.request_stop(); }
    /// True once stop has been requested, through the parent or directly.
    [[nodiscard]] bool stop_requested() const noexcept { return source_.stop_requested(); }

private:
    struct forward_stop {
        std::stop_source& target;
        void operator()() const noexcept { target.request_stop(); }
    };
    std::stop_source source_;
    std::stop_callback<forward_stop> link_;
};

} // namespace cotrait
