// A Processor whose implementations keep state alive across a suspension: everything a coroutine
// still needs after a co_await (locals, by-value parameters, lambda captures) lives in its frame,
// so the frame grows with that state. Each variant's frame size is measured through a counting
// memory resource installed with cotrait::frame_allocator_scope around the call.
#include <cotrait/cotrait.hpp>

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <exception>
#include <memory_resource>
#include <numeric>
#include <string>
#include <vector>

// A one-thread run queue: `co_await later()` suspends and is resumed by drain().
std::deque<std::coroutine_handle<>> g_ready;
struct later {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { g_ready.push_back(h); }
    void await_resume() const noexcept {}
};
void drain() {
    while (!g_ready.empty()) {
        std::coroutine_handle<> h = g_ready.front();
        g_ready.pop_front();
        h.resume();
    }
}

// Starts a task and stores its result; its own frame uses plain new (it is not measured).
struct detached {
    struct promise_type {
        detached get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
};
detached start(cotrait::boxed_task<long> task, long* out) {
    *out = co_await std::move(task);
}

// clang-format off
ASYNC_INTERFACE(Processor,
    (process, (long), ((std::vector<int>) chunk)));
// clang-format on

// Keeps one running sum across the suspension.
struct SumProcessor {
    cotrait::static_task<long> process(std::vector<int> chunk) {
        long sum = std::accumulate(chunk.begin(), chunk.end(), 0L);
        co_await later();
        co_return sum;
    }
};

// Keeps a 512-byte scratch buffer across the suspension.
struct BufferedProcessor {
    cotrait::static_task<long> process(std::vector<int> chunk) {
        std::array<char, 512> scratch{};
        for (std::size_t i = 0; i < chunk.size() && i < scratch.size(); ++i) {
            scratch[i] = static_cast<char>(chunk[i]);
        }
        co_await later();
        co_return std::accumulate(scratch.begin(), scratch.end(), 0L);
    }
};

// Keeps a lambda whose captures (a string and a copy of the chunk) are used after resuming.
struct CapturingProcessor {
    std::string prefix = "chunk of ";
    cotrait::static_task<long> process(std::vector<int> chunk) {
        auto describe = [label = prefix + std::to_string(chunk.size()), copy = chunk] {
            return static_cast<long>(label.size() + copy.size());
        };
        co_await later();
        co_return describe();
    }
};

class counting_resource final : public std::pmr::memory_resource {
public:
    std::size_t frames = 0;
    std::size_t bytes = 0;

private:
    void* do_allocate(std::size_t n, std::size_t align) override {
        ++frames;
        bytes += n;
        return std::pmr::new_delete_resource()->allocate(n, align);
    }
    void do_deallocate(void* p, std::size_t n, std::size_t align) override {
        std::pmr::new_delete_resource()->deallocate(p, n, align);
    }
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
        return this == &o;
    }
};

template <class Impl>
int run(const char* label, long expected) {
    cotrait::adapter<Processor, Impl> adapted{Impl{}};
    Processor& processor = adapted;
    counting_resource counter;
    cotrait::boxed_task<long> task;
    {
        // Only the call is in the scope: the frame is allocated when the method is called.
        cotrait::frame_allocator_scope scope(counter);
        task = processor.process(std::vector<int>{1, 2, 3, 4});
    }
    long result = 0;
    start(std::move(task), &result);
    drain();
    std::printf("  %-10s frame %4zu bytes (%zu frame/call), result %ld\n", label, counter.bytes,
                counter.frames, result);
    return result == expected && counter.frames == 1 ? 0 : 1;
}

int main() {
    std::printf("Processor::process, state held across one suspension:\n");
    int failures = 0;
    failures += run<SumProcessor>("sum", 10);
    failures += run<BufferedProcessor>("buffered", 10);
    failures += run<CapturingProcessor>("capturing", 10 + 4);
    return failures;
}
