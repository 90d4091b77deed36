// The storage of a boxed_task made from a ready value (cotrait::ready / ready_error): the outcome,
// laid out as a finished coroutine frame, in a small block taken from a per-thread free list, so
// that answering a call with a known result costs neither a coroutine frame nor, in steady state,
// a trip to the heap.
#pragma once

#include <cotrait/config.hpp>
#include <cotrait/detail/promise.hpp>

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace cotrait::detail {

// Per-thread free lists of ready frames, one per block size and alignment. A block freed on
// another thread joins that thread's list: blocks are interchangeable, and the list is bounded, so
// nothing accumulates. The state is constinit (no TLS guard on the hot path); the list is drained
// by a second thread_local with a destructor, registered on the first free. `room` is how many more
// blocks the list may take; it is 0 until the drainer is registered and after it ran, so a free
// tests one counter.
template <std::size_t Size, std::size_t Align>
class ready_box_cache {
    struct node {
        node* next;
    };
    static_assert(Size >= sizeof(node) && Align >= alignof(node));

    struct state {
        node* head = nullptr;
        std::uint32_t room = 0;
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
            s.room = 0;
            while (s.head != nullptr) {
                node* n = std::exchange(s.head, s.head->next);
                release(n);
            }
        }
    };

    // Unsized: Clang 14 does not declare the sized deallocation functions by default.
    static void release(void* p) noexcept { ::operator delete (p, std::align_val_t{Align}); }

    COTRAIT_NOINLINE static void deallocate_slow(void* p) noexcept {
        state& s = tls;
        if (!s.registered && !s.drained) {
            static thread_local drainer d;
            static_cast<void>(d);
            s.registered = true;
            s.room = max_cached;
            s.head = ::new (p) node{s.head};
            --s.room;
            return;
        }
        release(p);
    }

public:
    // Enough for any number of ready values in flight on one thread in a loop, small enough that
    // a thread that only frees keeps little.
    static constexpr std::uint32_t max_cached = 64;

    COTRAIT_NOINLINE static void* allocate_slow() {
        return ::operator new (Size, std::align_val_t{Align});
    }

    static void* allocate() {
        state& s = tls;
        if (node* n = s.head; COTRAIT_LIKELY(n != nullptr)) {
            s.head = n->next;
            ++s.room;
            return n;
        }
        return allocate_slow();
    }

    static void deallocate(void* p) noexcept {
        state& s = tls;
        if (COTRAIT_LIKELY(s.room != 0)) {
            s.head = ::new (p) node{s.head};
            --s.room;
            return;
        }
        deallocate_slow(p);
    }
};

// A ready outcome that every cotrait awaiter can treat as a frame: the two function pointers in
// front of a coroutine's promise (GCC's and Clang's frame layout, which libstdc++'s
// noop_coroutine relies on as well), then the promise part every task shares. The resume pointer
// is null, which is how `coroutine_handle::done()` recognises a coroutine suspended at its final
// point, so the task reads as done and is never resumed; `destroy()` calls `destroy_fn`, which
// returns the block to its cache. The promise sits where `coroutine_handle<task_promise<T>>`
// looks for it: after the two pointers, rounded up to the promise's alignment (checked in debug
// builds when a ready frame is made).
template <class T>
struct ready_frame;
template <class T>
using ready_frame_cache = ready_box_cache<sizeof(ready_frame<T>), alignof(ready_frame<T>)>;

template <class T>
struct ready_frame {
    void (*resume_fn)(void*) = nullptr;
    void (*destroy_fn)(void*) = &destroy;
    task_promise<T> promise;

    static void destroy(void* p) noexcept {
        auto* f = static_cast<ready_frame*>(p);
        f->~ready_frame();
        ready_frame_cache<T>::deallocate(f);
    }

    // Allocates a frame, lets `fill` set its outcome, and hands it back as a task handle; frees it
    // again if filling throws.
    template <class Fill>
    static std::coroutine_handle<task_promise<T>> make(Fill&& fill) {
        auto* f = ::new (ready_frame_cache<T>::allocate())
            ready_frame; // not value-initialised: no zeroing
        struct guard {
            ready_frame* f;
            ~guard() {
                if (f != nullptr) {
                    destroy(f);
                }
            }
        } g{f};
        std::forward<Fill>(fill)(f->promise);
        g.f = nullptr;
        auto h = std::coroutine_handle<task_promise<T>>::from_address(f);
        assert(&h.promise() == &f->promise && h.done());
        return h;
    }

    // Whether `h` (a task's frame) is a ready frame of this type.
    static bool holds(std::coroutine_handle<task_promise<T>> h) noexcept {
        return h.done() && static_cast<const ready_frame*>(h.address())->destroy_fn == &destroy;
    }
};

// What an empty (default-constructed or moved-from) boxed_task<T> refers to instead of null: a
// finished-looking frame whose destroy function does nothing and whose continuation is already
// set. So destroying any boxed_task is one indirect call with no test, and the await's one test of
// the continuation also catches an empty task (the cold path tells the two apart). Constant
// initialised, never written: nothing can claim or resume it.
template <class T>
struct empty_frame {
    static void no_destroy(void* /*frame*/) noexcept {}

    void (*resume_fn)(void*) = nullptr;
    void (*destroy_fn)(void*) = &no_destroy;
    task_promise<T> promise;

    constexpr empty_frame() noexcept {
        promise.continuation_ = std::coroutine_handle<>::from_address(this);
    }
    empty_frame(const empty_frame&) = delete;
    empty_frame& operator=(const empty_frame&) = delete;
    ~empty_frame() = default;
};
// The sentinel is never destroyed (the holder's destructor does not destroy it), so a boxed_task
// destroyed during static destruction, in whatever order, still finds it intact.
template <class T>
union empty_frame_holder {
    empty_frame<T> frame;
    constexpr empty_frame_holder() noexcept : frame() {}
    empty_frame_holder(const empty_frame_holder&) = delete;
    empty_frame_holder& operator=(const empty_frame_holder&) = delete;
    ~empty_frame_holder() {} // NOLINT(modernize-use-equals-default): must not destroy `frame`
};
template <class T>
inline constinit empty_frame_holder<T> empty_frame_v{};

} // namespace cotrait::detail
