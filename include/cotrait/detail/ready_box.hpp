// The storage of a boxed_task made from a ready value (cotrait::ready / ready_error): the outcome,
// in a small block taken from a per-thread free list, so that answering a call with a known result
// costs neither a coroutine frame nor, in steady state, a trip to the heap.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/result.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace cotrait::detail {

// The outcome of a ready task: a value or an exception, and whether it has been awaited (a second
// await is misuse, as for a frame). Its own storage rather than result_slot<T>: the value path
// must not construct or destroy an exception_ptr (an out-of-line call in libstdc++ 12).
template <class T>
class ready_box {
    using stored = std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, T>;

public:
    ready_box() noexcept {}
    ready_box(const ready_box&) = delete;
    ready_box& operator=(const ready_box&) = delete;
    ~ready_box() {
        if (state_ == result_state::value) {
            value_.~stored();
        } else if (state_ == result_state::error) {
            error_.~exception_ptr();
        }
    }

    template <class U>
    void set_value(U&& v) {
        if constexpr (std::is_reference_v<T>) {
            T ref = std::forward<U>(v);
            ::new (static_cast<void*>(std::addressof(value_))) stored(std::addressof(ref));
        } else {
            ::new (static_cast<void*>(std::addressof(value_))) stored(std::forward<U>(v));
        }
        state_ = result_state::value;
    }
    void set_error(std::exception_ptr e) noexcept {
        ::new (static_cast<void*>(std::addressof(error_))) std::exception_ptr(std::move(e));
        state_ = result_state::error;
    }

    // Marks the box awaited; false if it already was.
    bool claim() noexcept { return !std::exchange(awaited_, true); }

    T take() {
        if (state_ == result_state::error) {
            std::rethrow_exception(error_);
        }
        if constexpr (std::is_reference_v<T>) {
            return *value_;
        } else {
            return std::move(value_);
        }
    }

private:
    union {
        stored value_;
        std::exception_ptr error_;
    };
    result_state state_ = result_state::empty;
    bool awaited_ = false;
};

template <>
class ready_box<void> {
public:
    void set_value() noexcept { state_ = result_state::value; }
    void set_error(std::exception_ptr e) noexcept {
        error_ = std::move(e);
        state_ = result_state::error;
    }
    bool claim() noexcept { return !std::exchange(awaited_, true); }
    void take() {
        if (state_ == result_state::error) {
            std::rethrow_exception(error_);
        }
    }

private:
    std::exception_ptr error_;
    result_state state_ = result_state::empty;
    bool awaited_ = false;
};

// Per-thread free lists of ready boxes, one per block size and alignment. A box freed on another
// thread joins that thread's list: boxes are interchangeable, and the list is bounded, so nothing
// accumulates. The state is constinit (no TLS guard on the hot path); the list is drained by a
// second thread_local with a destructor, registered on the first free.
template <std::size_t Size, std::size_t Align>
class ready_box_cache {
    struct node {
        node* next;
    };
    static_assert(Size >= sizeof(node) && Align >= alignof(node));

    struct state {
        node* head = nullptr;
        std::uint32_t count = 0;
        bool registered = false;
        bool drained = false; // the thread is exiting: free directly
    };
    static inline constinit thread_local state tls{};

    struct drainer {
        drainer() = default;
        drainer(const drainer&) = delete;
        drainer& operator=(const drainer&) = delete;
        ~drainer() {
            state& s = tls;
            s.drained = true;
            while (s.head != nullptr) {
                node* n = std::exchange(s.head, s.head->next);
                release(n);
            }
            s.count = 0;
        }
    };

    // Unsized: Clang 14 does not declare the sized deallocation functions by default.
    static void release(void* p) noexcept { ::operator delete (p, std::align_val_t{Align}); }

    COTRAIT_NOINLINE static void register_drainer() noexcept {
        static thread_local drainer d;
        static_cast<void>(d);
        tls.registered = true;
    }

public:
    // Enough for any number of ready values in flight on one thread in a loop, small enough that
    // a thread that only frees keeps little.
    static constexpr std::uint32_t max_cached = 64;

    static void* allocate() {
        state& s = tls;
        if (s.head != nullptr) {
            --s.count;
            return std::exchange(s.head, s.head->next);
        }
        return ::operator new (Size, std::align_val_t{Align});
    }

    static void deallocate(void* p) noexcept {
        state& s = tls;
        if (s.count >= max_cached || s.drained) {
            release(p);
            return;
        }
        if (!s.registered) {
            register_drainer();
        }
        s.head = ::new (p) node{s.head};
        ++s.count;
    }
};

template <class T>
using ready_box_cache_for = ready_box_cache<sizeof(ready_box<T>), alignof(ready_box<T>)>;

// Allocates and fills a box; frees it again if filling throws.
template <class T, class... U>
ready_box<T>* make_ready_box(U&&... v) {
    void* mem = ready_box_cache_for<T>::allocate();
    auto* box = ::new (mem) ready_box<T>();
    struct guard {
        ready_box<T>* b;
        ~guard() {
            if (b != nullptr) {
                b->~ready_box<T>();
                ready_box_cache_for<T>::deallocate(b);
            }
        }
    } g{box};
    box->set_value(std::forward<U>(v)...);
    g.b = nullptr;
    return box;
}

template <class T>
ready_box<T>* make_ready_error_box(std::exception_ptr e) {
    auto* box = ::new (ready_box_cache_for<T>::allocate()) ready_box<T>();
    box->set_error(std::move(e));
    return box;
}

template <class T>
void destroy_ready_box(ready_box<T>* box) noexcept {
    box->~ready_box<T>();
    ready_box_cache_for<T>::deallocate(box);
}

} // namespace cotrait::detail
