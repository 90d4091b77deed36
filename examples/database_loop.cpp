// A Database whose `query` is called in a loop: how many frames each call allocates, how large
// they are, and how many of them reach the global heap with each frame source.
#include <cotrait/cotrait.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory_resource>
#include <new>
#include <string>
#include <vector>

// Global operator new/delete replaced to count what reaches the heap.
namespace {
std::size_t g_heap_allocations = 0;
} // namespace

void* operator new(std::size_t n) {
    ++g_heap_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t /*n*/) noexcept {
    std::free(p);
}

// A memory resource that counts the frames it hands out.
class counting_resource final : public std::pmr::memory_resource {
public:
    std::size_t allocations = 0;
    std::size_t bytes = 0;

private:
    void* do_allocate(std::size_t n, std::size_t align) override {
        ++allocations;
        bytes += n;
        return upstream_.allocate(n, align);
    }
    void do_deallocate(void* p, std::size_t n, std::size_t align) override {
        upstream_.deallocate(p, n, align);
    }
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
        return this == &o;
    }
    // Frees return to the pool: after the first call no new block is needed.
    std::pmr::unsynchronized_pool_resource upstream_;
};

struct Row {
    int id;
    double score;
};

// clang-format off
ASYNC_INTERFACE(Database,
    (query, (Row), ((int) id) const));
// clang-format on

struct TableDatabase {
    std::vector<Row> rows;
    cotrait::static_task<Row> query(int id) const {
        co_return rows.at(static_cast<std::size_t>(id));
    }
};

constexpr int calls = 10000;

cotrait::boxed_task<double> scan(const Database& db) {
    double sum = 0;
    for (int i = 0; i < calls; ++i) {
        sum += (co_await db.query(i % 100)).score;
    }
    co_return sum;
}

int main() {
    TableDatabase table;
    for (int i = 0; i < 100; ++i) {
        table.rows.push_back({i, i * 0.5});
    }
    auto db = cotrait::make_adapter<Database>(std::move(table));

    std::printf("%d calls of Database::query through the virtual interface\n", calls);
    {
        // 1. The default frame source: the per-thread recycling cache.
        cotrait::sync_wait(scan(*db)); // warm the cache
        const std::size_t before = g_heap_allocations;
        const double sum = cotrait::sync_wait(scan(*db));
        std::printf("  default (recycling)   : %.3f heap allocations/call (sum %.1f)\n",
                    static_cast<double>(g_heap_allocations - before) / calls, sum);
    }
    {
        // 2. A counting resource for every frame created on this thread in the scope.
        counting_resource counter;
        const std::size_t before = g_heap_allocations;
        {
            cotrait::frame_allocator_scope scope(counter);
            cotrait::sync_wait(scan(*db));
        }
        std::printf("  counting resource     : %.3f frames/call, %.1f bytes/call, "
                    "%.3f heap allocations/call\n",
                    static_cast<double>(counter.allocations - 1) / calls,
                    static_cast<double>(counter.bytes) / (counter.allocations),
                    static_cast<double>(g_heap_allocations - before) / calls);
    }
    {
        // 3. The same figure from the reflection helpers, per method.
        const cotrait::method_profile row[] = {
            cotrait::profile_method<Database>(*db, &Database::query, 7)};
        cotrait::print_profile(std::cout, row);
    }
    return 0;
}
