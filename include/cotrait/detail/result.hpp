// Storage for a coroutine's outcome: nothing yet, a value, or an exception.
#pragma once

#include <cotrait/config.hpp>

#include <concepts>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace cotrait::detail {

enum class result_state : unsigned char { empty, value, error };

// Out of line and cold: inlined, the rethrow's exception_ptr copy and unwinding setup cost every
// co_await instructions on the path that does not throw.
#if defined(__GNUC__) || defined(__clang__)
[[noreturn]] __attribute__((noinline, cold)) inline void
#else
[[noreturn]] COTRAIT_NOINLINE inline void
#endif
rethrow_result(const std::exception_ptr& e) {
    std::rethrow_exception(e);
}

// What result_slot<T> keeps: T itself, a pointer for a reference, nothing for void.
template <class T>
struct result_storage {
    using type = T;
};
template <class T>
struct result_storage<T&> {
    using type = T*;
};
template <>
struct result_storage<void> {
    struct type {};
};

// The outcome of a task, in a union with a state byte: the value path never constructs, copies or
// destroys a std::exception_ptr (whose special members are out-of-line calls in libstdc++ 12), so
// a task that returns a value pays one store of the state and one compare at the await. A value
// type is constructed in place by co_return and moved out once by take(); a reference is kept as
// its address. result_slot<T> adds return_value or return_void (a promise may not have both).
template <class T>
class result_slot_base {
protected:
    using stored = typename result_storage<T>::type;

public:
    constexpr result_slot_base() noexcept {}
    result_slot_base(const result_slot_base&) = delete;
    result_slot_base& operator=(const result_slot_base&) = delete;
    ~result_slot_base() {
        if (state_ == result_state::value) {
            value_.~stored();
        } else if (state_ == result_state::error) {
            error_.~exception_ptr();
        }
    }

    // Also reached after return_value, when a local's (or a temporary's) destructor throws on the
    // way to final_suspend: the exception replaces the value, which must be destroyed first.
    void unhandled_exception() noexcept { set_error(std::current_exception()); }

    // A failure from outside a coroutine body (ready_error).
    void set_error(std::exception_ptr e) noexcept {
        if (state_ == result_state::error) {
            error_ = std::move(e);
            return;
        }
        if (state_ == result_state::value) {
            state_ = result_state::empty;
            value_.~stored();
        }
        ::new (static_cast<void*>(std::addressof(error_))) std::exception_ptr(std::move(e));
        state_ = result_state::error;
    }

    T take() {
        if (COTRAIT_UNLIKELY(state_ == result_state::error)) {
            rethrow_result(error_);
        }
        if constexpr (std::is_reference_v<T>) {
            return *value_;
        } else if constexpr (!std::is_void_v<T>) {
            return std::move(value_);
        }
    }

protected:
    template <class... A>
    void emplace(A&&... a) noexcept(std::is_nothrow_constructible_v<stored, A&&...>) {
        ::new (static_cast<void*>(std::addressof(value_))) stored(std::forward<A>(a)...);
        state_ = result_state::value;
    }

private:
    struct nothing {};
    union {
        // Active while empty: an object with no active union member is not a constant, and the
        // empty boxed_task sentinel (detail/ready_box.hpp) is constant-initialised.
        nothing none_{};
        stored value_;
        std::exception_ptr error_;
    };
    result_state state_ = result_state::empty;
};

template <class T>
class result_slot : public result_slot_base<T> {
public:
    // `U = T` lets `co_return {a, b};` name T's constructor.
    template <class U = T>
    requires std::constructible_from<T, U&&>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        this->emplace(std::forward<U>(v));
    }
};

template <class T>
class result_slot<T&> : public result_slot_base<T&> {
public:
    void return_value(T& v) noexcept { this->emplace(std::addressof(v)); }
};

template <>
class result_slot<void> : public result_slot_base<void> {
public:
    void return_void() noexcept { emplace(); }
};

} // namespace cotrait::detail
