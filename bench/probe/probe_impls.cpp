// Implementations behind the probe interfaces (see probe.hpp for why they sit here).
#include "probe.hpp"

namespace probe {

sync_iface::~sync_iface() = default;
ref_iface::~ref_iface() = default;
boxed_iface::~boxed_iface() = default;
#if COTRAIT_PROBE_ASIO
asio_iface::~asio_iface() = default;
#endif

namespace {

struct sync_impl_t final : sync_iface {
    int compute(int x) override { return x + 1; }
};

struct ref_impl_t final : ref_iface {
    bench::ref_task<int> compute(int x) override { co_return x + 1; }
    bench::ref_task<int> call(int depth, int x) override {
        if (depth == 0) {
            co_return x + 1;
        }
        co_return co_await call(depth - 1, x);
    }
};

struct boxed_impl_t final : boxed_iface {
    cotrait::boxed_task<int> compute(int x) override { co_return x + 1; }
    cotrait::boxed_task<int> call(int depth, int x) override {
        if (depth == 0) {
            co_return x + 1;
        }
        co_return co_await call(depth - 1, x);
    }
    cotrait::boxed_task<int> ready(int x) override { return cotrait::ready(x + 1); }
};

#if COTRAIT_PROBE_ASIO
struct asio_impl_t final : asio_iface {
    asio::awaitable<int> compute(int x) override { co_return x + 1; }
};
#endif

} // namespace

#if COTRAIT_PROBE_ASIO
asio_iface& asio_impl() {
    static asio_impl_t impl;
    return impl;
}
#endif

sync_iface& sync_impl() {
    static sync_impl_t impl;
    return impl;
}
ref_iface& ref_impl() {
    static ref_impl_t impl;
    return impl;
}
boxed_iface& boxed_impl() {
    static boxed_impl_t impl;
    return impl;
}

} // namespace probe
