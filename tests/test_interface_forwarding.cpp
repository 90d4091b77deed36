// cotrait::forwarding: decorators that override only what they change, forwarding the rest at no
// frame cost.
#include <cotrait/boxed_task.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/local_task.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fwd {

ASYNC_INTERFACE(Storage, (get, (std::optional<std::string>), ((std::string)key) const),
                (put, (void), ((std::string)key, (std::string)value)),
                (get_or, (std::string), ((std::string)key, (std::string)fallback) const,
                 {
                     auto v = co_await get(std::move(key));
                     co_return v ? std::move(*v) : std::move(fallback);
                 }),
                (describe, (std::string), () const, { co_return std::string("storage"); }));

ASYNC_INTERFACE_EXTENDS(SizedStorage, Storage, (size, (std::size_t), () const));

class MapStorage : public SizedStorage {
public:
    mutable int gets = 0;
    std::map<std::string, std::string> data;

    cotrait::boxed_task<std::optional<std::string>> get(std::string key) const override {
        ++gets;
        if (key == "boom") {
            throw std::runtime_error("boom");
        }
        auto it = data.find(key);
        co_return it == data.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    cotrait::boxed_task<void> put(std::string key, std::string value) override {
        data[std::move(key)] = std::move(value);
        co_return;
    }
    // get_or keeps its default body; describe is overridden.
    cotrait::boxed_task<std::string> describe() const override { co_return std::string("map"); }
    cotrait::boxed_task<std::size_t> size() const override { co_return data.size(); }
};

// The caching decorator of docs/interfaces.md: only `get` is overridden.
class Caching : public cotrait::forwarding<Storage, std::unique_ptr<Storage>> {
public:
    using forwarding::forwarding;

    cotrait::boxed_task<std::optional<std::string>> get(std::string key) const override {
        if (auto it = cache_.find(key); it != cache_.end()) {
            co_return it->second;
        }
        auto v = co_await cotrait_inner().get(key);
        cache_.emplace(std::move(key), v);
        co_return v;
    }
    cotrait::boxed_task<void> put(std::string key, std::string value) override {
        cache_.erase(key);
        return cotrait_inner().put(std::move(key), std::move(value));
    }

private:
    mutable std::map<std::string, std::optional<std::string>> cache_;
};

// Records the order in which layers see a call.
class Tracing : public cotrait::forwarding<Storage, std::shared_ptr<Storage>> {
public:
    Tracing(std::shared_ptr<Storage> inner, std::vector<std::string>& log, std::string name)
        : forwarding(std::move(inner)), log_(&log), name_(std::move(name)) {}

    cotrait::boxed_task<std::optional<std::string>> get(std::string key) const override {
        log_->push_back(name_ + ">" + key);
        auto v = co_await cotrait_inner().get(key);
        log_->push_back(name_ + "<" + key);
        co_return v;
    }

private:
    std::vector<std::string>* log_;
    std::string name_;
};

// Rewrites keys: a decorator that changes arguments on the way in.
class Prefixing : public cotrait::forwarding<Storage> {
public:
    Prefixing(Storage& inner, std::string prefix) : forwarding(inner), prefix_(std::move(prefix)) {}
    cotrait::boxed_task<std::optional<std::string>> get(std::string key) const override {
        return cotrait_inner().get(prefix_ + key);
    }
    cotrait::boxed_task<void> put(std::string key, std::string value) override {
        return cotrait_inner().put(prefix_ + key, std::move(value));
    }

private:
    std::string prefix_;
};

} // namespace fwd

using fwd::MapStorage;
using fwd::Storage;

TEST_CASE("forwarding by reference forwards every method, provided ones to the inner's version") {
    MapStorage inner;
    inner.data["a"] = "1";
    cotrait::forwarding<Storage> f(inner);
    Storage& s = f;
    CHECK(cotrait::sync_wait(s.get("a")) == std::optional<std::string>("1"));
    CHECK(cotrait::sync_wait(s.get("zz")) == std::nullopt);
    cotrait::sync_wait(s.put("b", "2"));
    CHECK(inner.data.at("b") == "2");
    // The inner's override of a provided method, and the default body where it has none.
    CHECK(cotrait::sync_wait(s.describe()) == "map");
    CHECK(cotrait::sync_wait(s.get_or("zz", "dflt")) == "dflt");
    CHECK(inner.gets == 3);
    CHECK(&f.cotrait_inner() == &inner);
    const cotrait::forwarding<Storage>& cf = f;
    CHECK(&cf.cotrait_inner() == &inner);
}

TEST_CASE("forwarding propagates the inner's exceptions and stays lazy") {
    MapStorage inner;
    cotrait::forwarding<Storage> f(inner);
    // The inner `get` throws before its first suspension point: inside the body, so at the await.
    auto t = f.get("boom");
    CHECK(inner.gets == 0); // lazy: nothing ran yet
    CHECK_THROWS_AS(cotrait::sync_wait(std::move(t)), std::runtime_error);
    CHECK(inner.gets == 1);
}

TEST_CASE("a forwarded call costs no frame of its own, through any number of layers") {
    MapStorage inner;
    inner.data["k"] = "v";
    const cotrait::frame_usage direct = cotrait::measure_frames([&] { return inner.get("k"); });
    REQUIRE(direct.frames == 1);

    cotrait::forwarding<Storage> l1(inner);
    cotrait::forwarding<Storage> l2(l1);
    cotrait::forwarding<Storage> l3(l2);
    const cotrait::frame_usage one = cotrait::measure_frames([&] { return l1.get("k"); });
    const cotrait::frame_usage three = cotrait::measure_frames([&] { return l3.get("k"); });
    CHECK(one.frames == direct.frames);
    CHECK(one.bytes == direct.bytes);
    CHECK(three.frames == direct.frames);
    CHECK(three.bytes == direct.bytes);
    // Provided methods too: the default body's frame plus the `get` it awaits, nothing more.
    const auto direct_or = cotrait::measure_frames([&] { return inner.get_or("k", "x"); });
    const auto fwd_or = cotrait::measure_frames([&] { return l3.get_or("k", "x"); });
    CHECK(direct_or.frames == 2);
    CHECK(fwd_or.frames == direct_or.frames);
    // A layer that returns the inner task after rewriting arguments is free as well.
    fwd::Prefixing p(l3, "");
    CHECK(cotrait::measure_frames([&] { return p.get("k"); }).frames == 1);
    // A layer whose override is a coroutine pays exactly its own frame.
    std::vector<std::string> log;
    fwd::Tracing traced(std::make_shared<MapStorage>(), log, "t");
    CHECK(cotrait::measure_frames([&] { return traced.get("k"); }).frames == 2);
}

TEST_CASE("a caching decorator overrides only get") {
    auto owned = std::make_unique<MapStorage>();
    MapStorage& inner = *owned;
    inner.data["a"] = "1";
    fwd::Caching cache(std::move(owned));
    Storage& s = cache;

    CHECK(cotrait::sync_wait(s.get("a")) == std::optional<std::string>("1"));
    CHECK(cotrait::sync_wait(s.get("a")) == std::optional<std::string>("1"));
    CHECK(cotrait::sync_wait(s.get("none")) == std::nullopt);
    CHECK(cotrait::sync_wait(s.get("none")) == std::nullopt);
    CHECK(inner.gets == 2); // one miss per key
    // A write invalidates, and goes to the inner storage.
    cotrait::sync_wait(s.put("a", "2"));
    CHECK(cotrait::sync_wait(s.get("a")) == std::optional<std::string>("2"));
    CHECK(inner.gets == 3);
    // Not overridden: forwarded (the inner's default get_or awaits the inner's get, uncached).
    CHECK(cotrait::sync_wait(s.describe()) == "map");
    CHECK(cotrait::sync_wait(s.get_or("a", "x")) == "2");
    CHECK(inner.gets == 4);
}

TEST_CASE("a chain of three decorators applies each layer in order") {
    auto base = std::make_shared<MapStorage>();
    base->data["p:a"] = "1";
    std::vector<std::string> log;
    fwd::Prefixing prefixed(*base, "p:");
    // Tracing holds a shared_ptr: a non-owning one for the stack object below it.
    auto outer_traced = std::make_unique<fwd::Tracing>(
        std::shared_ptr<Storage>(std::shared_ptr<Storage>{}, &prefixed), log, "trace");
    fwd::Caching cached(std::move(outer_traced));
    Storage& s = cached;

    CHECK(cotrait::sync_wait(s.get("a")) == std::optional<std::string>("1"));
    CHECK(cotrait::sync_wait(s.get("a")) == std::optional<std::string>("1")); // cache hit
    CHECK(log == std::vector<std::string>{"trace>a", "trace<a"});
    CHECK(base->gets == 1);
    cotrait::sync_wait(s.put("b", "2"));
    CHECK(base->data.at("p:b") == "2");
    CHECK(cotrait::sync_wait(s.get("b")) == std::optional<std::string>("2"));
    CHECK(log.size() == 4);
    // The layers' frames: Caching's coroutine + Tracing's coroutine + the map's; Prefixing none.
    CHECK(cotrait::measure_frames([&] { return s.get("c"); }).frames == 3);
}

TEST_CASE("forwarding works with extended interfaces and owners of derived types") {
    auto owned = std::make_unique<MapStorage>();
    MapStorage& inner = *owned;
    cotrait::forwarding<fwd::SizedStorage, std::unique_ptr<MapStorage>> f(std::move(owned));
    fwd::SizedStorage& s = f;
    cotrait::sync_wait(s.put("x", "1"));
    CHECK(cotrait::sync_wait(s.size()) == 1);
    CHECK(cotrait::sync_wait(s.get("x")) == std::optional<std::string>("1"));
    CHECK(cotrait::sync_wait(s.describe()) == "map");
    CHECK(inner.gets == 1);
    CHECK(cotrait::measure_frames([&] { return s.size(); }).frames == 1);
}

TEST_CASE("forwarding owners: unique_ptr owns, shared_ptr shares") {
    auto shared = std::make_shared<MapStorage>();
    {
        cotrait::forwarding<Storage, std::shared_ptr<Storage>> a(shared);
        cotrait::forwarding<Storage, std::shared_ptr<Storage>> b(shared);
        CHECK(shared.use_count() == 3);
        cotrait::sync_wait(a.put("k", "v"));
        CHECK(cotrait::sync_wait(b.get("k")) == std::optional<std::string>("v"));
    }
    CHECK(shared.use_count() == 1);

    struct Flagged : MapStorage {
        bool* destroyed;
        explicit Flagged(bool* d) : destroyed(d) {}
        Flagged(const Flagged&) = delete;
        Flagged& operator=(const Flagged&) = delete;
        ~Flagged() override { *destroyed = true; }
    };
    bool destroyed = false;
    {
        cotrait::forwarding<Storage, std::unique_ptr<Storage>> owner(
            std::make_unique<Flagged>(&destroyed));
        CHECK_FALSE(destroyed);
    }
    CHECK(destroyed);
}

TEST_CASE("forwarding rejects a null inner pointer at construction") {
    CHECK_THROWS_AS(
        (cotrait::forwarding<Storage, std::unique_ptr<Storage>>(std::unique_ptr<Storage>())),
        std::invalid_argument);
    CHECK_THROWS_AS(
        (cotrait::forwarding<Storage, std::shared_ptr<Storage>>(std::shared_ptr<Storage>())),
        std::invalid_argument);
}

namespace fwd {
ASYNC_LOCAL_INTERFACE(Counter, (add, (int), ((int)n)), (add, (int), ((int)a, (int)b)),
                      (value, (int), () const noexcept));

class LocalCounter final : public Counter {
public:
    int total = 0;
    cotrait::local_task<int> add(int n) override { co_return total += n; }
    cotrait::local_task<int> add(int a, int b) override { co_return total += a + b; }
    cotrait::local_task<int> value() const noexcept override { co_return total; }
};
} // namespace fwd

TEST_CASE("forwarding works with local interfaces, overloads and noexcept methods") {
    fwd::LocalCounter inner;
    cotrait::forwarding<fwd::Counter> f(inner);
    fwd::Counter& c = f;
    CHECK(cotrait::sync_wait(c.add(2)) == 2);
    CHECK(cotrait::sync_wait(c.add(3, 4)) == 9);
    CHECK(cotrait::sync_wait(c.value()) == 9);
    CHECK(cotrait::measure_frames([&] { return c.add(1, 1); }).frames == 1);
}
