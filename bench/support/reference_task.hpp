// The floor a task type is measured against: the least a lazy coroutine task can do. A lazy
// start, a frame from a thread-local free list (one list per frame size, which is a compile-time
// constant at each call site), symmetric transfer both ways, the value kept in the promise. No
// exceptions (they terminate), no misuse checks, no cross-thread frees, no allocator choice: what
// cotrait's task types keep on top of this is what the reference rows measure.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <new>
#include <utility>

namespace bench {

namespace ref_detail {

struct free_node {
    free_node* next;
};

// One list per size class of 16 bytes, up to 1 KiB; larger frames go to operator new.
inline constexpr std::size_t ref_classes = 64;
inline constinit thread_local free_node* ref_free[ref_classes] = {};

inline void* ref_allocate(std::size_t n) {
    const std::size_t c = (n + 15) / 16;
    if (c < ref_classes) {
        if (free_node* b = ref_free[c]) {
            ref_free[c] = b->next;
            return b;
        }
        return ::operator new(c * 16);
    }
    return ::operator new(n);
}

inline void ref_deallocate(void* p, std::size_t n) noexcept {
    const std::size_t c = (n + 15) / 16;
    if (c < ref_classes) {
        auto* b = static_cast<free_node*>(p);
        b->next = ref_free[c];
        ref_free[c] = b;
        return;
    }
    ::operator delete(p);
}

} // namespace ref_detail

/// The reference lazy task (see the file comment). Await it once; its frame dies with it.
template <class T>
class [[nodiscard]] ref_task {
public:
    struct promise_type {
        T value{};
        std::coroutine_handle<> continuation;

        static void* operator new(std::size_t n) { return ref_detail::ref_allocate(n); }
        static void operator delete(void* p, std::size_t n) noexcept {
            ref_detail::ref_deallocate(p, n);
        }
        // Clang with -fcoro-aligned-allocation passes the frame's alignment (known exactly).
        static void* operator new(std::size_t n, std::align_val_t al) {
            return al <= std::align_val_t{16} ? ref_detail::ref_allocate(n) : ::operator new(n, al);
        }
        static void operator delete(void* p, std::size_t n, std::align_val_t al) noexcept {
            if (al <= std::align_val_t{16}) {
                ref_detail::ref_deallocate(p, n);
            } else {
                ::operator delete(p, al); // unsized: Clang 14 declares no sized deallocation
            }
        }

        ref_task get_return_object() noexcept {
            return ref_task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        struct final_awaiter {
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<>
            await_suspend(std::coroutine_handle<promise_type> h) const noexcept {
                return h.promise().continuation;
            }
            void await_resume() const noexcept {}
        };
        final_awaiter final_suspend() const noexcept { return {}; }
        void return_value(T v) noexcept { value = std::move(v); }
        [[noreturn]] void unhandled_exception() noexcept { std::terminate(); }
    };

    ref_task(ref_task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    ref_task(const ref_task&) = delete;
    ref_task& operator=(const ref_task&) = delete;
    ref_task& operator=(ref_task&&) = delete;
    ~ref_task() {
        if (h_) {
            h_.destroy();
        }
    }

    struct awaiter {
        std::coroutine_handle<promise_type> h;
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> c) const noexcept {
            h.promise().continuation = c;
            return h;
        }
        T await_resume() const noexcept { return std::move(h.promise().value); }
    };
    awaiter operator co_await() const noexcept { return awaiter{h_}; }

private:
    explicit ref_task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

} // namespace bench
