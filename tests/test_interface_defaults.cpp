// Default arguments in ASYNC_INTERFACE entries (issue 9, item 1): the default belongs to the
// interface's virtual declaration; the adapter forwards the caller's argument, never the default.
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <utility>

namespace defaults {

// clang-format off
// The exact reproduction from the issue: a default on a const method.
ASYNC_INTERFACE(Store, (get, (int), ((int) id = 5) const));

// Several parameters with defaults (a default containing a comma is parenthesised), a provided
// method with a default, a non-const method.
ASYNC_INTERFACE(Greeter,
    (greet, (std::string), ((std::string) name, (int) times = 2, (char) sep = ',') const),
    (pair, (std::string), ((std::pair<int, int>) p = (std::pair<int, int>(3, 4)))),
    (twice, (int), ((int) x = 10), { co_return 2 * x; }),
    (bump, (int), ((int) by = 1)));

// Defaults declared by an extending interface, and defaults inherited from the base.
ASYNC_INTERFACE_EXTENDS(LoudStore, Store, (shout, (std::string), ((std::string) s = "hey") const));

// A thread-affine (local_task) interface takes defaults the same way.
ASYNC_LOCAL_INTERFACE(LocalStore, (get, (int), ((int) id = 9, (int) scale = 1) const));
// clang-format on

struct Impl {
    cotrait::static_task<int> get(int id) const { co_return id; }
};

struct GreeterImpl {
    int counter = 0;
    cotrait::static_task<std::string> greet(std::string name, int times, char sep) const {
        std::string out;
        for (int i = 0; i < times; ++i) {
            if (i != 0) {
                out += sep;
            }
            out += name;
        }
        co_return out;
    }
    cotrait::static_task<std::string> pair(std::pair<int, int> p) {
        co_return std::to_string(p.first) + "/" + std::to_string(p.second);
    }
    // `twice` is left to the interface's default body.
    cotrait::static_task<int> bump(int by) {
        counter += by;
        co_return counter;
    }
};

struct LoudImpl {
    cotrait::static_task<int> get(int id) const { co_return id * 100; }
    cotrait::static_task<std::string> shout(std::string s) const { co_return s + "!"; }
};

struct ScaledImpl {
    cotrait::static_task<int> get(int id, int scale) const { co_return id* scale; }
};

// The virtual path: overrides declare no defaults, the interface's apply.
struct VirtualStore final : Store {
    cotrait::boxed_task<int> get(int id) const override { co_return id + 1; }
};

} // namespace defaults

TEST_CASE("default argument: the caller's argument reaches the implementation (issue repro)") {
    using defaults::Store;
    CHECK(cotrait::sync_wait(cotrait::make_adapter<Store>(defaults::Impl{})->get(42)) == 42);
    CHECK(cotrait::sync_wait(cotrait::make_adapter<Store>(defaults::Impl{})->get(0)) == 0);
    CHECK(cotrait::sync_wait(cotrait::make_adapter<Store>(defaults::Impl{})->get()) == 5);
}

TEST_CASE("default argument: adapter by value and by reference") {
    using defaults::Store;
    cotrait::adapter<Store, defaults::Impl> a{defaults::Impl{}};
    // Through the adapter's own type every argument is explicit; through Store& the default
    // applies.
    CHECK(cotrait::sync_wait(a.get(7)) == 7);
    Store& s = a;
    CHECK(cotrait::sync_wait(s.get(8)) == 8);
    CHECK(cotrait::sync_wait(s.get()) == 5);
    defaults::Impl original;
    auto view = cotrait::adapt_ref<Store>(original);
    Store& v = view;
    CHECK(cotrait::sync_wait(v.get(-3)) == -3);
    CHECK(cotrait::sync_wait(v.get()) == 5);
}

TEST_CASE("default argument: virtual implementation") {
    defaults::VirtualStore vs;
    defaults::Store& s = vs;
    CHECK(cotrait::sync_wait(s.get(1)) == 2);
    CHECK(cotrait::sync_wait(s.get()) == 6);
}

TEST_CASE("default arguments: several parameters, commas, provided and non-const methods") {
    using defaults::Greeter;
    auto g = cotrait::make_adapter<Greeter>(defaults::GreeterImpl{});
    CHECK(cotrait::sync_wait(g->greet("a")) == "a,a");
    CHECK(cotrait::sync_wait(g->greet("b", 3)) == "b,b,b");
    CHECK(cotrait::sync_wait(g->greet("c", 3, '-')) == "c-c-c");
    CHECK(cotrait::sync_wait(g->greet("d", 1, '-')) == "d");
    CHECK(cotrait::sync_wait(g->pair()) == "3/4");
    CHECK(cotrait::sync_wait(g->pair({7, 8})) == "7/8");
    // The provided method's default body sees the caller's argument, or its own default.
    CHECK(cotrait::sync_wait(g->twice(21)) == 42);
    CHECK(cotrait::sync_wait(g->twice()) == 20);
    CHECK(cotrait::sync_wait(g->bump(5)) == 5);
    CHECK(cotrait::sync_wait(g->bump()) == 6);
    CHECK(cotrait::sync_wait(g->bump(0)) == 6);
}

TEST_CASE("default arguments: extending interface, own and inherited defaults") {
    using defaults::LoudStore;
    auto l = cotrait::make_adapter<LoudStore>(defaults::LoudImpl{});
    CHECK(cotrait::sync_wait(l->get(2)) == 200);
    CHECK(cotrait::sync_wait(l->get()) == 500);
    CHECK(cotrait::sync_wait(l->shout("yo")) == "yo!");
    CHECK(cotrait::sync_wait(l->shout()) == "hey!");
    defaults::Store& base = *l;
    CHECK(cotrait::sync_wait(base.get(3)) == 300);
}

TEST_CASE("default arguments: reflection counts every parameter") {
    CHECK(cotrait::async_methods<defaults::Greeter>()[0].arity == 3);
    CHECK(cotrait::async_methods<defaults::Store>()[0].arity == 1);
}

TEST_CASE("default arguments: local interface") {
    auto l = cotrait::make_adapter<defaults::LocalStore>(defaults::ScaledImpl{});
    CHECK(cotrait::sync_wait(l->get(3, 2)) == 6);
    CHECK(cotrait::sync_wait(l->get(4)) == 4);
    CHECK(cotrait::sync_wait(l->get()) == 9);
}
