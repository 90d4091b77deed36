// Method names and qualifiers (issue 9, item 9): overloaded methods and noexcept methods.
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <type_traits>
#include <utility>

namespace names {

// clang-format off
ASYNC_INTERFACE(Printer,
    (print, (std::string), ((int) v) const),
    (print, (std::string), ((std::string) s) const),
    (print, (std::string), ((int) a, (int) b) const, {
        co_return co_await print(a) + "+" + co_await print(b);
    }));

ASYNC_INTERFACE(Quiet,
    (ping, (int), () noexcept),
    (peek, (int), ((int) x) const noexcept));

// clang-format on

struct StaticPrinter {
    cotrait::static_task<std::string> print(int v) const { co_return "i" + std::to_string(v); }
    cotrait::static_task<std::string> print(std::string s) const { co_return "s" + s; }
};
struct FullPrinter : StaticPrinter {
    using StaticPrinter::print;
    cotrait::static_task<std::string> print(int a, int b) const { co_return std::to_string(a * b); }
};
struct VirtualPrinter final : Printer {
    cotrait::boxed_task<std::string> print(int v) const override {
        co_return "vi" + std::to_string(v);
    }
    cotrait::boxed_task<std::string> print(std::string s) const override { co_return "vs" + s; }
    using Printer::print; // the provided (int, int) overload
};

struct StaticQuiet {
    int pings = 0;
    cotrait::static_task<int> ping() noexcept {
        ++pings;
        co_return pings;
    }
    // Not noexcept itself: the interface's noexcept is a promise of the virtual call, which
    // terminates if creating the task throws.
    cotrait::static_task<int> peek(int x) const { co_return x + pings; }
};

} // namespace names

TEST_CASE("overloaded async methods: adapter, defaults and virtual path") {
    using names::Printer;
    auto p = cotrait::make_adapter<Printer>(names::StaticPrinter{});
    CHECK(cotrait::sync_wait(p->print(1)) == "i1");
    CHECK(cotrait::sync_wait(p->print(std::string("x"))) == "sx");
    CHECK(cotrait::sync_wait(p->print(2, 3)) == "i2+i3"); // provided overload's default body
    auto f = cotrait::make_adapter<Printer>(names::FullPrinter{});
    CHECK(cotrait::sync_wait(f->print(2, 3)) == "6"); // the implementation's overload
    CHECK(cotrait::sync_wait(f->print(4)) == "i4");
    names::VirtualPrinter v;
    const Printer& vp = v;
    CHECK(cotrait::sync_wait(vp.print(5)) == "vi5");
    CHECK(cotrait::sync_wait(vp.print(std::string("y"))) == "vsy");
    CHECK(cotrait::sync_wait(vp.print(1, 2)) == "vi1+vi2");
}

TEST_CASE("overloaded async methods: reflection tells the overloads apart") {
    using names::Printer;
    using by_int = cotrait::boxed_task<std::string> (Printer::*)(int) const;
    using by_string = cotrait::boxed_task<std::string> (Printer::*)(std::string) const;
    using by_two = cotrait::boxed_task<std::string> (Printer::*)(int, int) const;
    const auto methods = cotrait::async_methods<Printer>();
    REQUIRE(methods.size() == 3);
    const cotrait::method_info* i =
        cotrait::find_method<Printer>(static_cast<by_int>(&Printer::print));
    const cotrait::method_info* s =
        cotrait::find_method<Printer>(static_cast<by_string>(&Printer::print));
    const cotrait::method_info* t =
        cotrait::find_method<Printer>(static_cast<by_two>(&Printer::print));
    REQUIRE(i != nullptr);
    REQUIRE(s != nullptr);
    REQUIRE(t != nullptr);
    CHECK(i != s);
    CHECK(s != t);
    CHECK(i->arity == 1);
    CHECK(s->arity == 1);
    CHECK(t->arity == 2);
    CHECK_FALSE(i->provided);
    CHECK(t->provided);
    CHECK(i->name == "print");
    STATIC_REQUIRE(cotrait::implements<names::StaticPrinter, Printer>);
    STATIC_REQUIRE_FALSE(cotrait::implements<names::StaticQuiet, Printer>);
}

TEST_CASE("noexcept async methods") {
    using names::Quiet;
    STATIC_REQUIRE(noexcept(std::declval<Quiet&>().ping()));
    STATIC_REQUIRE(noexcept(std::declval<const Quiet&>().peek(1)));
    cotrait::adapter<Quiet, names::StaticQuiet> a{names::StaticQuiet{}};
    Quiet& q = a;
    CHECK(cotrait::sync_wait(q.ping()) == 1);
    CHECK(cotrait::sync_wait(q.peek(10)) == 11);
    CHECK(cotrait::async_methods<Quiet>()[1].is_const);
    CHECK_FALSE(cotrait::async_methods<Quiet>()[0].is_const);
    CHECK(cotrait::find_method<Quiet>(&Quiet::peek) == &cotrait::async_methods<Quiet>()[1]);
}
