// local_task<T>: a boxed_task that belongs to the thread that created it (the analog of the futures
// returned by `#[async_trait(?Send)]`).
#pragma once

#include <cotrait/awaitable_traits.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/config.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/task_error.hpp>

#include <coroutine>
#include <thread>
#include <type_traits>
#include <utility>

namespace cotrait {

namespace detail {

#if COTRAIT_THREAD_CHECKS
// Wraps every awaiter inside a local_task body so that the body notices when it is resumed on a
// thread other than its creator's, at the first resumption point after the migration.
template <class Inner>
class thread_checked_awaiter {
public:
    thread_checked_awaiter(Inner&& inner, std::thread::id owner) noexcept(
        std::is_nothrow_constructible_v<Inner, Inner&&>)
        : inner_(std::forward<Inner>(inner)), owner_(owner) {}

    bool await_ready() { return inner_.await_ready(); }
    template <class H>
    decltype(auto) await_suspend(H h) {
        return inner_.await_suspend(h);
    }
    decltype(auto) await_resume() {
        if (std::this_thread::get_id() != owner_) {
            report_misuse(task_errc::wrong_thread);
        }
        return inner_.await_resume();
    }

private:
    Inner inner_; // a reference when the awaitable is its own awaiter (it outlives the co_await)
    std::thread::id owner_;
};
#endif

} // namespace detail

// COTRAIT_THREAD_CHECKS (config.hpp) changes local_task's layout: the ABI tag makes TUs that
// disagree on it fail to link.
inline namespace COTRAIT_ABI_NAMESPACE {

/// A lazy, move-only task with `boxed_task<T>`'s semantics and layout cost that is bound to the
/// thread that created it, for services that hold non-thread-safe state (the analog of
/// `#[async_trait(?Send)]`).
///
/// With `COTRAIT_THREAD_CHECKS` (default in debug builds) it remembers its creating thread and
/// diagnoses, with `task_errc::wrong_thread`:
/// - `co_await` (starting it) on another thread: throws `task_misuse` before the body runs;
/// - completion observed on another thread (the awaiter is resumed elsewhere): throws from the
///   `co_await` expression;
/// - inside a `local_task` coroutine's own body, resumption after any `co_await` on another thread:
///   throws at that resumption point, inside the body;
/// - destruction on another thread of a task whose body has started (it was awaited): prints and
///   aborts. A task whose body never ran may be destroyed on any thread: that runs no code of the
///   body, only the destructors of its parameter copies, so the `task_misuse` thrown by awaiting it
///   on the wrong thread can unwind (and destroy it) right there.
/// Without the checks it is exactly a `boxed_task<T>` (one pointer) and nothing is diagnosed.
/// A `static_task<T, A>&&` or `boxed_task<T>&&` converts to it by adopting the frame; there is no
/// conversion back, so a local task cannot leak into code that may move it to another thread.
template <class T = void>
class [[nodiscard]] COTRAIT_CORO_TASK_ATTRS local_task {
public:
    class promise_type : public boxed_task<T>::promise_type {
    public:
        // The boxed_task return object refers to this frame through task_promise<T>, which is
        // at offset 0 of this promise as of its base's (checked by as_base_handle in debug).
        local_task get_return_object() noexcept {
            return local_task(boxed_task<T>::promise_type::get_return_object());
        }
#if COTRAIT_THREAD_CHECKS
        template <class A>
        auto await_transform(A&& a) {
            using inner = decltype(detail::get_awaiter(std::forward<A>(a)));
            return detail::thread_checked_awaiter<inner>(detail::get_awaiter(std::forward<A>(a)),
                                                         creator_);
        }

    private:
        std::thread::id creator_ = std::this_thread::get_id();
#endif
    };
    static_assert(alignof(promise_type) == alignof(typename boxed_task<T>::promise_type),
                  "local_task's promise must be laid out like boxed_task's");

    using value_type = T;

    /// An empty task; awaiting it throws `task_misuse`.
    local_task() noexcept = default;
    local_task(local_task&& other) noexcept
        : task_(std::move(other.task_))
#if COTRAIT_THREAD_CHECKS
          ,
          owner_(other.owner_), started_(std::exchange(other.started_, false))
#endif
    {
    }
    local_task& operator=(local_task&& other) noexcept {
        if (this != &other) {
            check_destroy();
            task_ = std::move(other.task_);
#if COTRAIT_THREAD_CHECKS
            owner_ = other.owner_;
            started_ = std::exchange(other.started_, false);
#endif
        }
        return *this;
    }
    local_task(const local_task&) = delete;
    local_task& operator=(const local_task&) = delete;

    /// Adopts the frame of a boxed_task; the calling thread becomes the owner.
    local_task(boxed_task<T>&& t) noexcept // NOLINT(google-explicit-constructor)
        : task_(std::move(t)) {}
    /// Adopts the frame of a static_task; nothing is allocated. The calling thread becomes the
    /// owner.
    template <class Alloc>
    local_task(static_task<T, Alloc>&& t) noexcept // NOLINT(google-explicit-constructor)
        : task_(std::move(t)) {}

    /// Destroys the frame. With checks on, aborts if the body has started (the task was awaited)
    /// and this is not the owner's thread; an unstarted task may be destroyed anywhere.
    ~local_task() {
        check_destroy();
    }

    /// Starts the task and suspends the caller until it completes. Throws `task_misuse` if the
    /// task is empty, was awaited before, or (with checks on) if this thread is not the owner.
    auto operator co_await() const {
#if COTRAIT_THREAD_CHECKS
        if (task_.valid() && std::this_thread::get_id() != owner_) {
            detail::report_misuse(task_errc::wrong_thread);
        }
        auto inner = task_.operator co_await(); // throws if empty or awaited before
        // From here on the body runs (the co_await expression goes on to await_suspend).
        started_ = true;
        return detail::thread_checked_awaiter<decltype(inner)>(std::move(inner), owner_);
#else
        return task_.operator co_await();
#endif
    }

    /// True if the task owns a frame.
    [[nodiscard]] bool valid() const noexcept {
        return task_.valid();
    }
    explicit operator bool() const noexcept {
        return valid();
    }
    /// True if the task owns a frame whose body has finished.
    [[nodiscard]] bool done() const noexcept {
        return task_.done();
    }

private:
    void check_destroy() noexcept {
#if COTRAIT_THREAD_CHECKS
        if (started_ && task_.valid() && std::this_thread::get_id() != owner_) {
            detail::fatal_misuse(task_errc::wrong_thread);
        }
#endif
    }

    boxed_task<T> task_;
#if COTRAIT_THREAD_CHECKS
    std::thread::id owner_ = std::this_thread::get_id();
    // Set when the task is awaited: from then on its body may have run, and only the owner may
    // destroy it. Mutable because `co_await` takes the task as const (like boxed_task's).
    mutable bool started_ = false;
#endif
};

} // namespace COTRAIT_ABI_NAMESPACE

} // namespace cotrait
