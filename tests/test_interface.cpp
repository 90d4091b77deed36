// COTRAIT_INTERFACE: the generated interface, the static path (concept + adapter), reflection.
#include "support/test_support.hpp"

#include <cotrait/counting.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <coroutine>
#include <cstddef>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace {

using cotrait_test::counting_resource;

struct copy_counter {
    int* copies;
    explicit copy_counter(int* c) : copies(c) {}
    copy_counter(const copy_counter& o) : copies(o.copies) { ++*copies; }
    copy_counter(copy_counter&& o) noexcept : copies(o.copies) {}
    copy_counter& operator=(const copy_counter&) = delete;
    copy_counter& operator=(copy_counter&&) = delete;
    ~copy_counter() = default;
};

} // namespace

namespace shapes {

// Every supported kind of parameter and result, including spellings with commas.
ASYNC_INTERFACE(Store, (get, (int), ((int)key) const), (put, (void), ((int)key, (int)value)),
                (slot, (int&), ((int)key)),
                (take, (std::unique_ptr<int>), ((std::unique_ptr<int>)p)),
                (steal, (std::unique_ptr<int>), ((std::unique_ptr<int> &&) p)),
                (pair, (std::pair<int, std::string>), ((const std::map<int, std::string>&)m)),
                (count, (std::size_t), ((std::map<int, int>&)m, (copy_counter)c)),
                (twice, (int), ((int)key) const, { co_return 2 * co_await get(key); }),
                (label, (std::string), (), { co_return std::string("default"); }));

// The virtual path: derive and override with boxed_task coroutines.
class VirtualStore final : public Store {
public:
    std::map<int, int> data;

    cotrait::boxed_task<int> get(int key) const override { co_return data.at(key); }
    cotrait::boxed_task<void> put(int key, int value) override {
        data[key] = value;
        co_return;
    }
    cotrait::boxed_task<int&> slot(int key) override { co_return data[key]; }
    cotrait::boxed_task<std::unique_ptr<int>> take(std::unique_ptr<int> p) override {
        *p += 1;
        co_return std::move(p);
    }
    cotrait::boxed_task<std::unique_ptr<int>> steal(std::unique_ptr<int>&& p) override {
        co_return std::move(p);
    }
    cotrait::boxed_task<std::pair<int, std::string>>
    pair(const std::map<int, std::string>& m) override {
        co_return {m.begin()->first, m.begin()->second};
    }
    cotrait::boxed_task<std::size_t> count(std::map<int, int>& m, copy_counter /*c*/) override {
        m[0] = 0;
        co_return m.size();
    }
    cotrait::boxed_task<std::string> label() override { co_return std::string("virtual"); }
};

// The static path: no inheritance, static_task results.
struct StaticStore {
    std::map<int, int> data;
    int label_calls = 0;

    cotrait::static_task<int> get(int key) const { co_return data.at(key); }
    cotrait::static_task<void> put(int key, int value) {
        data[key] = value;
        co_return;
    }
    cotrait::static_task<int&> slot(int key) { co_return data[key]; }
    cotrait::static_task<std::unique_ptr<int>> take(std::unique_ptr<int> p) {
        *p += 1;
        co_return std::move(p);
    }
    cotrait::static_task<std::unique_ptr<int>> steal(std::unique_ptr<int>&& p) {
        co_return std::move(p);
    }
    cotrait::static_task<std::pair<int, std::string>> pair(const std::map<int, std::string>& m) {
        co_return {m.begin()->first, m.begin()->second};
    }
    cotrait::static_task<std::size_t> count(std::map<int, int>& m, copy_counter /*c*/) {
        m[0] = 0;
        co_return m.size();
    }
    // `twice` is not defined: the adapter runs the interface's default body.
    cotrait::static_task<std::string> label() {
        ++label_calls;
        co_return std::string("static");
    }
};

} // namespace shapes

using shapes::Store;

TEST_CASE("generated interface shape") {
    STATIC_REQUIRE(std::is_polymorphic_v<Store>);
    STATIC_REQUIRE(std::is_abstract_v<Store>);
    STATIC_REQUIRE(std::has_virtual_destructor_v<Store>);
    STATIC_REQUIRE(std::is_base_of_v<cotrait::async_interface, Store>);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<Store>);
    STATIC_REQUIRE_FALSE(std::is_move_constructible_v<Store>);
    STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<Store>);
    STATIC_REQUIRE_FALSE(std::is_move_assignable_v<Store>);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<shapes::VirtualStore>);
    STATIC_REQUIRE_FALSE(
        std::is_copy_constructible_v<cotrait::adapter<Store, shapes::StaticStore>>);

    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::get), cotrait::boxed_task<int> (Store::*)(int) const>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::put), cotrait::boxed_task<void> (Store::*)(int, int)>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::slot), cotrait::boxed_task<int&> (Store::*)(int)>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::steal), cotrait::boxed_task<std::unique_ptr<int>> (
                                                    Store::*)(std::unique_ptr<int> &&)>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::pair), cotrait::boxed_task<std::pair<int, std::string>> (
                                                   Store::*)(const std::map<int, std::string>&)>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::count), cotrait::boxed_task<std::size_t> (Store::*)(
                                                    std::map<int, int>&, copy_counter)>);
    STATIC_REQUIRE(
        std::is_same_v<decltype(&Store::twice), cotrait::boxed_task<int> (Store::*)(int) const>);
}

namespace {

// The same script through any Store.
void exercise(Store& s) {
    cotrait::sync_wait(s.put(1, 10));
    const Store& cs = s;
    CHECK(cotrait::sync_wait(cs.get(1)) == 10);
    CHECK(cotrait::sync_wait(cs.twice(1)) == 20);

    int& ref = cotrait::sync_wait(s.slot(1));
    ref = 11;
    CHECK(cotrait::sync_wait(cs.get(1)) == 11);
    CHECK(&cotrait::sync_wait(s.slot(1)) == &ref);

    auto p = cotrait::sync_wait(s.take(std::make_unique<int>(4)));
    REQUIRE(p);
    CHECK(*p == 5);
    auto q = std::make_unique<int>(7);
    auto r = cotrait::sync_wait(s.steal(std::move(q)));
    CHECK(q == nullptr);
    CHECK(*r == 7);

    const std::map<int, std::string> m{{3, "three"}, {4, "four"}};
    CHECK(cotrait::sync_wait(s.pair(m)) == std::pair<int, std::string>(3, "three"));

    std::map<int, int> counted{{5, 5}};
    int copies = 0;
    copy_counter c(&copies);
    CHECK(cotrait::sync_wait(s.count(counted, c)) == 2);
    CHECK(counted.count(0) == 1);
    // The caller's lvalue is copied once into the by-value parameter; every further hop moves.
    CHECK(copies == 1);
}

} // namespace

TEST_CASE("virtual implementation: overrides and defaults") {
    shapes::VirtualStore v;
    exercise(v);
    CHECK(cotrait::sync_wait(static_cast<Store&>(v).label()) == "virtual");
}

TEST_CASE("adapter over a static implementation: same behaviour, defaults where not defined") {
    cotrait::adapter<Store, shapes::StaticStore> a{shapes::StaticStore{}};
    exercise(a);
    Store& s = a;
    CHECK(cotrait::sync_wait(s.label()) == "static");
    CHECK(a.cotrait_impl().label_calls == 1);
    CHECK(a.cotrait_impl().data.at(1) == 11);
}

TEST_CASE("make_adapter owns, adapt_ref refers") {
    std::unique_ptr<Store> owned = cotrait::make_adapter<Store>(shapes::StaticStore{});
    cotrait::sync_wait(owned->put(2, 20));
    CHECK(cotrait::sync_wait(owned->get(2)) == 20);

    shapes::StaticStore original;
    auto view = cotrait::adapt_ref<Store>(original);
    cotrait::sync_wait(view.put(3, 30));
    CHECK(original.data.at(3) == 30);
    CHECK(&view.cotrait_impl() == &original);
}

TEST_CASE("exceptions thrown by the implementation reach the caller") {
    cotrait::adapter<Store, shapes::StaticStore> a{shapes::StaticStore{}};
    CHECK_THROWS_AS(cotrait::sync_wait(a.get(42)), std::out_of_range);
    CHECK_THROWS_AS(cotrait::sync_wait(a.twice(42)), std::out_of_range);
}

TEST_CASE("adapter call costs exactly the implementation's one frame") {
    counting_resource counter;
    shapes::StaticStore direct;
    cotrait::adapter<Store, shapes::StaticStore> a{shapes::StaticStore{}};
    Store& s = a;
    {
        cotrait::frame_allocator_scope scope(counter);
        cotrait::sync_wait(direct.put(1, 1));
    }
    const std::size_t direct_bytes = counter.bytes;
    CHECK(counter.allocations == 1);
    {
        cotrait::frame_allocator_scope scope(counter);
        cotrait::sync_wait(s.put(1, 1));
    }
    CHECK(counter.allocations == 2);
    // Adopted, not wrapped: the very same frame.
    CHECK(counter.bytes == 2 * direct_bytes);
    {
        // A default body that awaits one implementation method: two frames.
        cotrait::frame_allocator_scope scope(counter);
        CHECK(cotrait::sync_wait(s.twice(1)) == 2);
    }
    CHECK(counter.allocations == 4);
    CHECK(counter.live == 0);
}

namespace {

// An implementation whose method returns a plain awaitable rather than a task.
struct ready_int {
    int v;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<> /*h*/) const noexcept {}
    int await_resume() const noexcept { return v; }
};

ASYNC_INTERFACE(Source, (read, (long), ()));

struct ReadyImpl {
    ready_int read() const { return {5}; }
};
struct TaskImpl {
    cotrait::static_task<long> read() { co_return 6; }
};
struct BoxedImpl {
    cotrait::boxed_task<long> read() { co_return 7; }
};
struct FixedAllocImpl {
    cotrait::static_task<long, cotrait::new_delete_allocator<>> read() { co_return 8; }
};

} // namespace

TEST_CASE("adapter over other awaitables and task flavours") {
    STATIC_REQUIRE(cotrait::implements<ReadyImpl, Source>);
    counting_resource counter;
    cotrait::adapter<Source, ReadyImpl> ready{ReadyImpl{}};
    cotrait::adapter<Source, TaskImpl> task{TaskImpl{}};
    cotrait::adapter<Source, BoxedImpl> boxed{BoxedImpl{}};
    cotrait::adapter<Source, FixedAllocImpl> fixed{FixedAllocImpl{}};
    {
        cotrait::frame_allocator_scope scope(counter);
        // Not a task: one frame of the adapter's own, awaiting it.
        CHECK(cotrait::sync_wait(ready.read()) == 5);
        CHECK(counter.allocations == 1);
        CHECK(cotrait::sync_wait(task.read()) == 6);
        CHECK(counter.allocations == 2);
        CHECK(cotrait::sync_wait(boxed.read()) == 7);
        CHECK(counter.allocations == 3);
        // A fixed allocator is honoured: the frame does not come from the scope.
        CHECK(cotrait::sync_wait(fixed.read()) == 8);
        CHECK(counter.allocations == 3);
    }
    CHECK(counter.live == 0);
}

namespace shapes {

ASYNC_INTERFACE(Reader, (read, (std::string), ((int)id) const));
ASYNC_INTERFACE_EXTENDS(Writer, Reader, (write, (void), ((int)id, (std::string)text)),
                        (copy, (void), ((int)from, (int)to), {
                            std::string text = co_await read(from);
                            co_await write(to, std::move(text));
                        }));

struct MemoryFile {
    std::map<int, std::string> lines;
    cotrait::static_task<std::string> read(int id) const { co_return lines.at(id); }
    cotrait::static_task<void> write(int id, std::string text) {
        lines[id] = std::move(text);
        co_return;
    }
};

} // namespace shapes

TEST_CASE("interface inheritance") {
    using shapes::Reader;
    using shapes::Writer;
    STATIC_REQUIRE(std::is_base_of_v<Reader, Writer>);
    STATIC_REQUIRE(cotrait::implements<shapes::MemoryFile, Writer>);
    STATIC_REQUIRE(cotrait::implements<shapes::MemoryFile, Reader>);

    cotrait::adapter<Writer, shapes::MemoryFile> file{shapes::MemoryFile{}};
    Writer& w = file;
    cotrait::sync_wait(w.write(1, "one"));
    cotrait::sync_wait(w.copy(1, 2));
    Reader& r = w;
    CHECK(cotrait::sync_wait(r.read(2)) == "one");
    CHECK(file.cotrait_impl().lines.size() == 2);

    // The virtual path: one class overriding the base's and the derived interface's methods.
    struct VirtualFile final : Writer {
        std::map<int, std::string> lines;
        cotrait::boxed_task<std::string> read(int id) const override { co_return lines.at(id); }
        cotrait::boxed_task<void> write(int id, std::string text) override {
            lines[id] = std::move(text);
            co_return;
        }
    };
    VirtualFile v;
    cotrait::sync_wait(v.write(5, "five"));
    cotrait::sync_wait(static_cast<Writer&>(v).copy(5, 6));
    CHECK(v.lines.at(6) == "five");
}

TEST_CASE("reflection: names, arity, constness, defaults, declaring interface") {
    constexpr auto methods = cotrait::async_methods_v<shapes::Writer>;
    STATIC_REQUIRE(methods.size() == 3);
    STATIC_REQUIRE(methods[0].name == "read");
    STATIC_REQUIRE(methods[0].interface == "Reader");
    STATIC_REQUIRE(methods[0].arity == 1);
    STATIC_REQUIRE(methods[0].is_const);
    STATIC_REQUIRE_FALSE(methods[0].provided);
    STATIC_REQUIRE(methods[1].name == "write");
    STATIC_REQUIRE(methods[1].interface == "Writer");
    STATIC_REQUIRE(methods[1].arity == 2);
    STATIC_REQUIRE_FALSE(methods[1].is_const);
    STATIC_REQUIRE(methods[2].name == "copy");
    STATIC_REQUIRE(methods[2].provided);

    constexpr auto store = cotrait::async_methods_v<Store>;
    STATIC_REQUIRE(store.size() == 9);
    STATIC_REQUIRE(store[4].name == "steal");
    STATIC_REQUIRE(store[7].name == "twice");
    STATIC_REQUIRE(store[8].arity == 0);
    CHECK(cotrait::async_methods<Store>().size() == 9);

    REQUIRE(cotrait::find_method<shapes::Writer>(&shapes::Writer::copy) != nullptr);
    CHECK(cotrait::find_method<shapes::Writer>(&shapes::Writer::copy)->name == "copy");
    CHECK(cotrait::find_method<shapes::Writer>(&shapes::Reader::read)->name == "read");
    CHECK(cotrait::find_method<shapes::Reader>(&shapes::Writer::write) == nullptr);
    CHECK(cotrait::find_method<Store>(&Store::label) == &cotrait::async_methods_v<Store>[8]);
}

TEST_CASE("reflection: frames and bytes per call of each implementation method") {
    cotrait::adapter<shapes::Writer, shapes::MemoryFile> file{shapes::MemoryFile{}};
    shapes::Writer& w = file;
    cotrait::sync_wait(w.write(1, "x"));
    const cotrait::method_profile rows[] = {
        cotrait::profile_method<shapes::Writer>(w, &shapes::Writer::read, 1),
        cotrait::profile_method<shapes::Writer>(w, &shapes::Writer::write, 2, std::string("y")),
        cotrait::profile_method<shapes::Writer>(w, &shapes::Writer::copy, 1, 3),
    };
    CHECK(rows[0].info.name == "read");
    CHECK(rows[0].per_call.frames == 1);
    CHECK(rows[1].per_call.frames == 1);
    CHECK(rows[2].info.name == "copy");
    CHECK(rows[2].per_call.frames == 3); // the default body + read + write
    CHECK(rows[2].per_call.bytes > rows[0].per_call.bytes);
    CHECK(rows[0].per_call.bytes % 16 == 0);
    CHECK(rows[0].per_call.bytes > 16);

    // The static path measured the same way allocates the same frame.
    shapes::MemoryFile direct;
    direct.lines[1] = "x";
    CHECK(cotrait::measure_frames([&] { return direct.read(1); }).bytes == rows[0].per_call.bytes);

    std::ostringstream out;
    cotrait::print_profile(out, rows);
    CHECK(out.str().find("Writer::copy") != std::string::npos);
    CHECK(out.str().find("Reader::read") != std::string::npos);
}

namespace concepts {

ASYNC_INTERFACE(Api, (find, (std::optional<int>), ((const std::string&)key) const),
                (store, (void), ((std::string)key, (int)value)),
                (hint, (int), (), { co_return 0; }));

struct Good {
    cotrait::static_task<std::optional<int>> find(const std::string&) const { co_return 1; }
    cotrait::static_task<void> store(std::string, int) { co_return; }
};
struct GoodWithHint : Good {
    cotrait::static_task<int> hint() { co_return 1; }
};
struct Missing {
    cotrait::static_task<std::optional<int>> find(const std::string&) const { co_return 1; }
};
struct WrongParam : Good {
    cotrait::static_task<std::optional<int>> find(std::pair<int, int>) const { co_return 1; }
};
struct NotConst : Good {
    cotrait::static_task<std::optional<int>> find(const std::string&) { co_return 1; }
};
struct NotAwaitable : Good {
    int store(std::string, int) { return 0; }
};
struct WrongResult : Good {
    cotrait::static_task<std::string> find(const std::string&) const { co_return "x"; }
};
struct WrongHint : Good {
    cotrait::static_task<int> hint(int) { co_return 1; }
};
struct ConvertibleResult : Good {
    // An int result converts to std::optional<int>: accepted (the adapter awaits it in a second
    // frame, since the task types differ).
    cotrait::static_task<int> find(const std::string&) const { co_return 2; }
};

ASYNC_INTERFACE(Refs, (item, (const int&), ()));
struct RefToTemporary {
    cotrait::static_task<int> item() { co_return 1; }
};
struct RefToMember {
    int value = 3;
    cotrait::static_task<int&> item() { co_return value; }
};

template <cotrait::implements<Api> T>
constexpr bool constrained(const T& /*t*/) {
    return true;
}

} // namespace concepts

// Both return tasks of another result type than the interface's (int for std::optional<int>,
// int& for const int&): the adapter accepts them only with the opt-in, since each call costs a
// second frame.
template <>
inline constexpr bool cotrait::allow_result_conversion<concepts::ConvertibleResult> = true;
template <>
inline constexpr bool cotrait::allow_result_conversion<concepts::RefToMember> = true;

TEST_CASE("concept satisfaction and rejection") {
    using namespace concepts;
    STATIC_REQUIRE(cotrait::implements<Good, Api>);
    STATIC_REQUIRE(cotrait::implements<GoodWithHint, Api>);
    STATIC_REQUIRE(cotrait::implements<ConvertibleResult, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<Missing, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<WrongParam, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<NotConst, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<const GoodWithHint, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<NotAwaitable, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<WrongResult, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<WrongHint, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<int, Api>);
    STATIC_REQUIRE_FALSE(cotrait::implements<Good, Good>);
    STATIC_REQUIRE(cotrait::implements<RefToMember, Refs>);
    STATIC_REQUIRE_FALSE(cotrait::implements<RefToTemporary, Refs>);
    STATIC_REQUIRE(constrained(Good{}));
    // A virtual implementation satisfies its own interface's concept too.
    STATIC_REQUIRE(cotrait::implements<shapes::VirtualStore, Store>);

    cotrait::adapter<Api, ConvertibleResult> a{ConvertibleResult{}};
    CHECK(cotrait::sync_wait(a.find("k")) == std::optional<int>(2));
    cotrait::adapter<Refs, RefToMember> r{RefToMember{}};
    CHECK(&cotrait::sync_wait(r.item()) == &r.cotrait_impl().value);
}

namespace alloc {

// Per-call allocators: a leading (std::allocator_arg_t, allocator) pair is an ordinary pair of
// parameters for the interface, and the frame machinery picks it up on both paths.
ASYNC_INTERFACE(Query,
                (run, (int), ((std::allocator_arg_t)tag, (std::pmr::memory_resource*)mr, (int)x)));

struct StaticQuery {
    cotrait::static_task<int> run(std::allocator_arg_t, std::pmr::memory_resource*, int x) {
        co_return x + 1;
    }
};
struct VirtualQuery final : Query {
    cotrait::boxed_task<int> run(std::allocator_arg_t, std::pmr::memory_resource*, int x) override {
        co_return x + 2;
    }
};

} // namespace alloc

TEST_CASE("per-call allocator parameters reach the implementation's frame") {
    counting_resource scoped;
    counting_resource per_call;
    cotrait::adapter<alloc::Query, alloc::StaticQuery> adapted{alloc::StaticQuery{}};
    alloc::VirtualQuery direct;
    {
        cotrait::frame_allocator_scope scope(scoped);
        alloc::Query& a = adapted;
        alloc::Query& d = direct;
        CHECK(cotrait::sync_wait(a.run(std::allocator_arg, &per_call, 1)) == 2);
        CHECK(cotrait::sync_wait(d.run(std::allocator_arg, &per_call, 1)) == 3);
    }
    CHECK(per_call.allocations == 2);
    CHECK(scoped.allocations == 0);
    CHECK(per_call.live == 0);
}
