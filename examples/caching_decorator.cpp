// A caching decorator over a Storage interface, written with cotrait::forwarding: it overrides
// only `get` (and `put`, to invalidate); every other method is forwarded to the wrapped storage
// without a coroutine frame of its own. The frame counts printed at the end show what each call
// costs.
#include <cotrait/cotrait.hpp>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

// clang-format off
ASYNC_INTERFACE(Storage,
    (get,  (std::optional<std::string>), ((std::string) key) const),
    (put,  (void),                       ((std::string) key, (std::string) value)),
    (name, (std::string),                () const, { co_return std::string("storage"); }));
// clang-format on

class SlowStorage final : public Storage {
public:
    mutable int reads = 0;
    cotrait::boxed_task<std::optional<std::string>> get(std::string key) const override {
        ++reads; // stands for a disk or network read
        auto it = data_.find(key);
        co_return it == data_.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    cotrait::boxed_task<void> put(std::string key, std::string value) override {
        data_.insert_or_assign(std::move(key), std::move(value));
        co_return;
    }

private:
    std::map<std::string, std::string> data_;
};

// The whole decorator.
class CachingStorage final : public cotrait::forwarding<Storage, std::unique_ptr<Storage>> {
public:
    using forwarding::forwarding;
    cotrait::boxed_task<std::optional<std::string>> get(std::string key) const override {
        if (auto hit = cache_.find(key); hit != cache_.end()) {
            co_return hit->second;
        }
        auto value = co_await cotrait_inner().get(key);
        cache_.insert_or_assign(std::move(key), value);
        co_return value;
    }
    cotrait::boxed_task<void> put(std::string key, std::string value) override {
        cache_.erase(key);
        return cotrait_inner().put(std::move(key), std::move(value)); // forwarded: no frame
    }

private:
    mutable std::map<std::string, std::optional<std::string>> cache_;
};

int main() {
    auto slow = std::make_unique<SlowStorage>();
    const SlowStorage& backend = *slow;
    CachingStorage cached(std::move(slow));
    Storage& storage = cached;

    cotrait::sync_wait(storage.put("answer", "42"));
    for (int i = 0; i < 3; ++i) {
        const auto v = cotrait::sync_wait(storage.get("answer"));
        if (!v || *v != "42") {
            std::fprintf(stderr, "wrong value\n");
            return 1;
        }
    }
    std::printf("3 gets, %d backend read(s); name() forwarded: %s\n", backend.reads,
                cotrait::sync_wait(storage.name()).c_str());

    const auto hit = cotrait::measure_frames([&] { return storage.get("answer"); });
    const auto put = cotrait::measure_frames([&] { return storage.put("k", "v"); });
    const auto miss = cotrait::measure_frames([&] { return storage.get("k"); });
    std::printf("frames per call: cache hit %zu, miss %zu, put (forwarded) %zu\n", hit.frames,
                miss.frames, put.frames);
    return backend.reads == 2 && put.frames == 1 && miss.frames == 2 ? 0 : 1;
}
