// A local service, the analog of `#[async_trait(?Send)]`: its state is not thread-safe (a plain
// cache and counter, no mutex), so its interface is declared with ASYNC_LOCAL_INTERFACE and its
// methods return cotrait::local_task, which belongs to the thread that created it. With
// COTRAIT_THREAD_CHECKS (debug builds) using such a task on another thread is diagnosed.
#include <cotrait/cotrait.hpp>

#include <cstdio>
#include <string>
#include <thread>
#include <unordered_map>

// clang-format off
ASYNC_LOCAL_INTERFACE(Templates,
    (render, (std::string), ((const std::string&) name, (int) value)),
    (cache_hits, (int), () const));
// clang-format on

struct CachingTemplates {
    std::unordered_map<std::string, std::string> cache; // not thread-safe, and need not be
    int hits = 0;

    cotrait::static_task<std::string> render(const std::string& name, int value) {
        auto it = cache.find(name);
        if (it != cache.end()) {
            ++hits;
        } else {
            it = cache.emplace(name, "<" + name + ">{}").first;
        }
        std::string out = it->second;
        out.replace(out.find("{}"), 2, std::to_string(value));
        co_return out;
    }
    cotrait::static_task<int> cache_hits() const { co_return hits; }
};

cotrait::local_task<int> page(Templates& t) {
    const std::string title = "title";
    const std::string row = "row";
    std::string html = co_await t.render(title, 1);
    for (int i = 0; i < 3; ++i) {
        html += co_await t.render(row, i);
    }
    std::printf("  rendered: %s\n", html.c_str());
    co_return co_await t.cache_hits();
}

int main() {
    cotrait::adapter<Templates, CachingTemplates> service{CachingTemplates{}};
    const int hits = cotrait::sync_wait(page(service));
    std::printf("  cache hits: %d\n", hits);

#if COTRAIT_THREAD_CHECKS
    // A task created here and awaited on another thread: diagnosed before its body runs.
    cotrait::local_task<int> pending = service.cache_hits();
    std::thread other([&] {
        try {
            cotrait::sync_wait(pending);
            std::printf("  not diagnosed?\n");
        } catch (const cotrait::task_misuse& e) {
            std::printf("  on another thread: %s\n", e.what());
        }
    });
    other.join();
#else
    std::printf(
        "  (thread checks are off in this build: NDEBUG without COTRAIT_THREAD_CHECKS=1)\n");
#endif
    return hits == 2 ? 0 : 1;
}
