// Where an interface may be declared (issue 9, item 7, and the template part of item 9): at
// namespace scope (everywhere else), as a member of a class, and as a class template.
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

namespace placement {

// clang-format off
struct Service {
    // A member interface, with a required and a provided method.
    ASYNC_INTERFACE(Backend,
        (load, (std::string), ((int) key) const),
        (load_twice, (std::string), ((int) key) const, {
            std::string a = co_await load(key);
            co_return a + co_await load(key);
        }));
    // A member interface extending another member interface.
    ASYNC_INTERFACE_EXTENDS(Writable, Backend, (store, (void), ((int) key, (std::string) v)));
};

// A class template interface: one interface per element type.
template <class T>
ASYNC_INTERFACE(Source, (next, (T), ()), (skip, (int), ((int) n), { co_return n; }));
// A template interface extending another: a default body reaches the dependent base's methods
// through `this->`, and its own methods directly.
template <class T>
ASYNC_INTERFACE_EXTENDS(PeekSource, Source<T>,
    (peek, (T), ()),
    (peek_then_next, (std::vector<T>), (), {
        std::vector<T> out;
        out.push_back(co_await peek());
        out.push_back(co_await this->next());
        co_return out;
    }));
// clang-format on

struct MemoryBackend {
    cotrait::static_task<std::string> load(int key) const { co_return std::to_string(key); }
};
struct MemoryWritable {
    std::vector<std::string> stored;
    cotrait::static_task<std::string> load(int key) const { co_return "w" + std::to_string(key); }
    cotrait::static_task<void> store(int /*key*/, std::string v) {
        stored.push_back(std::move(v));
        co_return;
    }
};

struct Counter {
    int n = 0;
    cotrait::static_task<int> next() { co_return ++n; }
};
struct Words {
    cotrait::static_task<std::string> next() { co_return "w"; }
    cotrait::static_task<int> skip(int n) { co_return -n; }
};

struct PeekCounter {
    int n = 0;
    cotrait::static_task<int> next() { co_return ++n; }
    cotrait::static_task<int> peek() { co_return n + 1; }
};

struct VirtualBackend final : Service::Backend {
    cotrait::boxed_task<std::string> load(int key) const override {
        co_return "v" + std::to_string(key);
    }
};

} // namespace placement

TEST_CASE("interface declared inside a class: adapter and virtual path") {
    using placement::Service;
    auto b = cotrait::make_adapter<Service::Backend>(placement::MemoryBackend{});
    CHECK(cotrait::sync_wait(b->load(4)) == "4");
    CHECK(cotrait::sync_wait(b->load_twice(4)) == "44");
    placement::VirtualBackend v;
    Service::Backend& vb = v;
    CHECK(cotrait::sync_wait(vb.load_twice(1)) == "v1v1");
    STATIC_REQUIRE(cotrait::implements<placement::MemoryBackend, Service::Backend>);
    CHECK(cotrait::async_methods<Service::Backend>()[0].interface == "Backend");
}

TEST_CASE("member interface extending a member interface") {
    using placement::Service;
    placement::MemoryWritable storage;
    auto w = cotrait::adapt_ref<Service::Writable>(storage);
    Service::Writable& wr = w;
    cotrait::sync_wait(wr.store(1, "x"));
    CHECK(storage.stored == std::vector<std::string>{"x"});
    Service::Backend& base = w;
    CHECK(cotrait::sync_wait(base.load_twice(2)) == "w2w2");
    CHECK(cotrait::async_methods<Service::Writable>().size() == 3);
}

TEST_CASE("class template interface") {
    using placement::Source;
    auto ints = cotrait::make_adapter<Source<int>>(placement::Counter{});
    CHECK(cotrait::sync_wait(ints->next()) == 1);
    CHECK(cotrait::sync_wait(ints->next()) == 2);
    CHECK(cotrait::sync_wait(ints->skip(3)) == 3); // default body
    auto words = cotrait::make_adapter<Source<std::string>>(placement::Words{});
    CHECK(cotrait::sync_wait(words->next()) == "w");
    CHECK(cotrait::sync_wait(words->skip(3)) == -3); // the implementation's
    STATIC_REQUIRE(cotrait::implements<placement::Counter, Source<int>>);
    STATIC_REQUIRE_FALSE(cotrait::implements<placement::Counter, Source<std::string>>);
    CHECK(cotrait::find_method<Source<int>>(&Source<int>::skip)->provided);
}

TEST_CASE("class template interface extending a class template interface") {
    using placement::PeekSource;
    auto p = cotrait::make_adapter<PeekSource<int>>(placement::PeekCounter{});
    CHECK(cotrait::sync_wait(p->peek_then_next()) == std::vector<int>{1, 1});
    CHECK(cotrait::sync_wait(p->peek_then_next()) == std::vector<int>{2, 2});
    placement::Source<int>& base = *p;
    CHECK(cotrait::sync_wait(base.next()) == 3);
    CHECK(cotrait::sync_wait(base.skip(4)) == 4);
    CHECK(cotrait::async_methods<PeekSource<int>>().size() == 4);
    CHECK(cotrait::async_methods<PeekSource<int>>()[3].interface == "PeekSource");
}
