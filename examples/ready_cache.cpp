// A cache that answers hits with cotrait::ready (no coroutine frame) and misses with a coroutine,
// behind a virtual async interface. Prints the frames each kind of call allocates.
#include <cotrait/cotrait.hpp>

#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

// clang-format off
ASYNC_INTERFACE(Names,
    (lookup, (std::string), ((int) id)));
// clang-format on

class CachedNames final : public Names {
public:
    int fetches = 0;

    cotrait::boxed_task<std::string> lookup(int id) override {
        if (id < 0) {
            return cotrait::ready_error(std::invalid_argument("negative id"));
        }
        if (auto hit = cache_.find(id); hit != cache_.end()) {
            return cotrait::ready(hit->second); // known now: no frame
        }
        return fetch(id); // the miss runs a coroutine
    }

private:
    cotrait::boxed_task<std::string> fetch(int id) {
        ++fetches; // stands for a database query
        std::string name = "user-" + std::to_string(id);
        cache_.emplace(id, name);
        co_return name;
    }

    std::map<int, std::string> cache_;
};

int main() {
    CachedNames impl;
    Names& names = impl;
    const auto miss = cotrait::measure_frames([&] { return names.lookup(7); });
    const auto hit = cotrait::measure_frames([&] { return names.lookup(7); });
    std::printf("lookup(7): %s; frames: miss %zu, hit %zu; fetches %d\n",
                cotrait::sync_wait(names.lookup(7)).c_str(), miss.frames, hit.frames, impl.fetches);
    bool rejected = false;
    try {
        cotrait::sync_wait(names.lookup(-1));
    } catch (const std::invalid_argument& e) {
        rejected = true;
        std::printf("lookup(-1): %s\n", e.what());
    }
    return miss.frames == 1 && hit.frames == 0 && impl.fetches == 1 && rejected ? 0 : 1;
}
