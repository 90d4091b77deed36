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

// A value type: constructed in place by co_return, moved out once by take().
template <class T>
class result_slot {
public:
    result_slot() noexcept {}
    result_slot(const result_slot&) = delete;
    result_slot& operator=(const result_slot&) = delete;
    ~result_slot() {
        if (state_ == result_state::value) {
            value_.~T();
        } else if (state_ == result_state::error) {
            error_.~exception_ptr();
        }
    }

    // `U = T` lets `co_return {a, b};` name T's constructor.
    template <class U = T>
    requires std::constructible_from<T, U&&>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        ::new (static_cast<void*>(std::addressof(value_))) T(std::forward<U>(v));
        state_ = result_state::value;
    }

    // Also reached after return_value, when a local's (or a temporary's) destructor throws on the
    // way to final_suspend: the exception replaces the value, which must be destroyed first.
    void unhandled_exception() noexcept {
        if (state_ == result_state::value) {
            state_ = result_state::empty;
            value_.~T();
        }
        ::new (static_cast<void*>(std::addressof(error_)))
            std::exception_ptr(std::current_exception());
        state_ = result_state::error;
    }

    T take() {
        if (COTRAIT_UNLIKELY(state_ == result_state::error)) {
            rethrow_result(error_);
        }
        return std::move(value_);
    }

private:
    union {
        T value_;
        std::exception_ptr error_;
    };
    result_state state_ = result_state::empty;
};

// A reference: stores the address.
template <class T>
class result_slot<T&> {
public:
    void return_value(T& v) noexcept {
        value_ = std::addressof(v);
        state_ = result_state::value;
    }
    void unhandled_exception() noexcept {
        error_ = std::current_exception();
        state_ = result_state::error;
    }
    T& take() {
        if (COTRAIT_UNLIKELY(state_ == result_state::error)) {
            rethrow_result(error_);
        }
        return *value_;
    }

private:
    T* value_ = nullptr;
    std::exception_ptr error_;
    result_state state_ = result_state::empty;
};

template <>
class result_slot<void> {
public:
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error_ = std::current_exception(); }
    void take() {
        if (COTRAIT_UNLIKELY(static_cast<bool>(error_))) {
            rethrow_result(error_);
        }
    }

private:
    std::exception_ptr error_;
};

} // namespace cotrait::detail
