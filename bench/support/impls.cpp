// Implementations behind the benchmark interfaces. This translation unit is compiled on its own
// (no LTO) so that callers in the benchmark files only ever see the abstract interfaces and every
// call through them stays an indirect call.
#include "bench_support.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace bench {

sync_iface::~sync_iface() = default;
async_iface::~async_iface() = default;
ref_iface::~ref_iface() = default;
async_chain::~async_chain() = default;
sync_io_iface::~sync_io_iface() = default;
async_io_iface::~async_io_iface() = default;

namespace {

struct sync_impl_t final : sync_iface {
    int compute(int x) override { return x + 1; }
};

struct async_impl_t final : async_iface {
    cotrait::boxed_task<int> compute(int x) override { co_return x + 1; }
};

struct ref_impl_t final : ref_iface {
    ref_task<int> compute(int x) override { co_return x + 1; }
};

struct boxed_macro_impl_t final : macro_iface {
    cotrait::boxed_task<int> compute(int x) override { co_return x + 1; }
};

struct chain_impl_t final : async_chain {
    // `self` is read through a pointer the compiler cannot follow, so the recursive call stays a
    // virtual call even though this class is final.
    async_chain* self = this;
    cotrait::boxed_task<int> call(int depth, int x) override {
        if (depth <= 1) {
            co_return x + 1;
        }
        co_return co_await self->call(depth - 1, x) + 1;
    }
};

// A suspension point the compiler cannot prove away: whether it suspends is read from a volatile,
// so whatever is live across it must be kept in the coroutine frame. It never actually suspends.
volatile bool g_ready = true;
struct maybe_suspend {
    bool await_ready() const noexcept { return g_ready; }
    bool await_suspend(std::coroutine_handle<> /*h*/) const noexcept { return false; }
    void await_resume() const noexcept {}
};

template <std::size_t N>
struct stateful_impl_t final : async_iface {
    cotrait::boxed_task<int> compute(int x) override {
        if constexpr (N == 0) {
            co_await maybe_suspend{};
            co_return x + 1;
        } else {
            std::array<unsigned char, N> state; // held across the suspension point
            state[0] = static_cast<unsigned char>(x);
            state[N - 1] = static_cast<unsigned char>(x);
            benchmark::DoNotOptimize(state);
            co_await maybe_suspend{};
            benchmark::DoNotOptimize(state);
            co_return state[0] + state[N - 1];
        }
    }
};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bench: %s: %s\n", what, std::strerror(errno));
    std::abort();
}

struct sync_io_impl_t final : sync_io_iface {
    int call(event_loop& loop, int x) override {
        loop.roundtrip_sync();
        return x + 1;
    }
};

struct async_io_impl_t final : async_io_iface {
    cotrait::boxed_task<int> call(event_loop& loop, int x) override {
        co_await loop.roundtrip();
        co_return x + 1;
    }
};

} // namespace

sync_iface& sync_impl() {
    static sync_impl_t impl;
    return impl;
}
async_iface& async_impl() {
    static async_impl_t impl;
    return impl;
}
ref_iface& ref_impl() {
    static ref_impl_t impl;
    return impl;
}
macro_iface& boxed_macro_impl() {
    static boxed_macro_impl_t impl;
    return impl;
}
macro_iface& adapter_impl() {
    static cotrait::adapter<macro_iface, static_calc> impl{static_calc{}};
    return impl;
}
async_chain& chain_impl() {
    static chain_impl_t impl;
    return impl;
}

async_iface& stateful_impl(std::size_t state_bytes) {
    static stateful_impl_t<0> s0;
    static stateful_impl_t<16> s16;
    static stateful_impl_t<64> s64;
    static stateful_impl_t<256> s256;
    static stateful_impl_t<1024> s1024;
    static stateful_impl_t<4096> s4096;
    static stateful_impl_t<160> s160;
    static stateful_impl_t<512> s512;
    static stateful_impl_t<2000> s2000;
    switch (state_bytes) {
    case 0:
        return s0;
    case 16:
        return s16;
    case 64:
        return s64;
    case 256:
        return s256;
    case 1024:
        return s1024;
    case 4096:
        return s4096;
    case 160:
        return s160;
    case 512:
        return s512;
    case 2000:
        return s2000;
    default:
        std::fprintf(stderr, "bench: no stateful implementation for %zu bytes\n", state_bytes);
        std::abort();
    }
}

sync_io_iface& sync_io_impl() {
    static sync_io_impl_t impl;
    return impl;
}
async_io_iface& async_io_impl() {
    static async_io_impl_t impl;
    return impl;
}

// ---- event_loop ---------------------------------------------------------------------------------

event_loop::event_loop() {
    efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd_ < 0) {
        die("eventfd");
    }
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
        die("epoll_create1");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, efd_, &ev) != 0) {
        die("epoll_ctl");
    }
}

event_loop::~event_loop() {
    ::close(epfd_);
    ::close(efd_);
}

void event_loop::signal() {
    const std::uint64_t one = 1;
    if (::write(efd_, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) {
        die("write(eventfd)");
    }
}

void event_loop::wait_and_drain() {
    epoll_event ev{};
    int n = 0;
    do {
        n = ::epoll_wait(epfd_, &ev, 1, -1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        die("epoll_wait");
    }
    std::uint64_t value = 0;
    if (::read(efd_, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
        die("read(eventfd)");
    }
}

void event_loop::roundtrip_awaiter::await_suspend(std::coroutine_handle<> h) {
    loop->waiting_ = h;
    loop->signal();
}

void event_loop::roundtrip_sync() {
    signal();
    wait_and_drain();
}

void event_loop::run() {
    while (waiting_) {
        wait_and_drain();
        std::exchange(waiting_, {}).resume();
    }
}

} // namespace bench
