// Reserved names (issue 9, item 11): an interface reserves only `cotrait_`-prefixed member names;
// methods named `impl`, `base`, `adapter` (which the adapter used to take, or could) work through
// the interface and through the adapter's own type.
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <string>

namespace reserved {

// clang-format off
// Names a user may well choose, which cotrait must not reserve.
ASYNC_INTERFACE(Plugin,
    (impl, (std::string), ()),
    (base, (int), ((int) x) const),
    (adapter, (int), ()),
    (get, (int), ()));
// clang-format on

struct StaticPlugin {
    int got = 0;
    cotrait::static_task<std::string> impl() { co_return "plugin impl"; }
    cotrait::static_task<int> base(int x) const { co_return x * 3; }
    cotrait::static_task<int> adapter() { co_return 11; }
    cotrait::static_task<int> get() { co_return ++got; }
};

} // namespace reserved

TEST_CASE("methods named impl, base, adapter: reachable through the adapter's own type") {
    using reserved::Plugin;
    cotrait::adapter<Plugin, reserved::StaticPlugin> a{reserved::StaticPlugin{}};
    CHECK(cotrait::sync_wait(a.impl()) == "plugin impl");
    CHECK(cotrait::sync_wait(a.base(2)) == 6);
    CHECK(cotrait::sync_wait(a.get()) == 1);
    Plugin& p = a;
    CHECK(cotrait::sync_wait(p.impl()) == "plugin impl");
    CHECK(cotrait::sync_wait(p.adapter()) == 11);
    // The implementation stays reachable under the reserved name.
    CHECK(a.cotrait_impl().got == 1);
    auto view = cotrait::adapt_ref<Plugin>(a.cotrait_impl());
    CHECK(cotrait::sync_wait(view.get()) == 2);
    CHECK(&view.cotrait_impl() == &a.cotrait_impl());
}

namespace reserved {
ASYNC_INTERFACE(Plain, (get, (int), ()));
struct PlainImpl {
    cotrait::static_task<int> get() { co_return 1; }
};
} // namespace reserved

TEST_CASE("the deprecated impl() accessor still works where no method is named impl") {
    cotrait::adapter<reserved::Plain, reserved::PlainImpl> a{reserved::PlainImpl{}};
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    reserved::PlainImpl& viaOld = a.impl();
    const auto& ca = a;
    const reserved::PlainImpl& viaOldConst = ca.impl();
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    CHECK(&viaOld == &a.cotrait_impl());
    CHECK(&viaOldConst == &a.cotrait_impl());
}
