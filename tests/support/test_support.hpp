// Helpers shared by the cotrait tests: counted objects and a counting memory resource.
#pragma once

#include <cotrait/cotrait.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <mutex>
#include <thread>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace cotrait_test {

// Counts constructions, copies, moves and destructions of instances, to check ownership rules.
struct counters {
    int constructed = 0;
    int copied = 0;
    int moved = 0;
    int destroyed = 0;
    [[nodiscard]] int alive() const { return constructed + copied + moved - destroyed; }
};

class counted {
public:
    explicit counted(counters& c, int value = 0) : c_(&c), value_(value) { ++c_->constructed; }
    counted(const counted& o) : c_(o.c_), value_(o.value_) { ++c_->copied; }
    counted(counted&& o) noexcept : c_(o.c_), value_(o.value_) { ++c_->moved; }
    counted& operator=(const counted&) = delete;
    counted& operator=(counted&&) = delete;
    ~counted() { ++c_->destroyed; }
    [[nodiscard]] int value() const { return value_; }

private:
    counters* c_;
    int value_;
};

// Counts the blocks a single-threaded test's frames take from it.
class counting_resource final : public std::pmr::memory_resource {
public:
    std::size_t allocations = 0;
    std::size_t deallocations = 0;
    std::size_t live = 0;       // blocks not yet returned
    std::size_t bytes = 0;      // bytes handed out in all
    std::size_t live_bytes = 0; // bytes not yet returned
    std::size_t last_size = 0;

private:
    void* do_allocate(std::size_t n, std::size_t align) override {
        ++allocations;
        ++live;
        bytes += n;
        live_bytes += n;
        last_size = n;
        return std::pmr::new_delete_resource()->allocate(n, align);
    }
    void do_deallocate(void* p, std::size_t n, std::size_t align) override {
        ++deallocations;
        --live;
        live_bytes -= n;
        std::pmr::new_delete_resource()->deallocate(p, n, align);
    }
    bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override {
        return this == &o;
    }
};

// Counts live instances across threads, for checking that nothing outlives its owner.
struct tracked {
    static inline std::atomic<int> alive{0};
    tracked() noexcept { ++alive; }
    tracked(const tracked& /*other*/) noexcept { ++alive; }
    tracked(tracked&& /*other*/) noexcept { ++alive; }
    tracked& operator=(const tracked&) = default;
    tracked& operator=(tracked&&) = default;
    ~tracked() { --alive; }
};

// Families let one test body run against both task types.
struct boxed_family {
    template <class T>
    using task = cotrait::boxed_task<T>;
    static constexpr const char* name = "boxed_task";
};
struct static_family {
    template <class T>
    using task = cotrait::static_task<T>;
    static constexpr const char* name = "static_task";
};

// A one-shot gate: wait() blocks until open() (from any thread). For ordering threads in tests
// instead of sleeping.
class gate {
public:
    void open() {
        std::lock_guard<std::mutex> lock(m_);
        open_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [this] { return open_; });
    }
    [[nodiscard]] bool is_open() {
        std::lock_guard<std::mutex> lock(m_);
        return open_;
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Identifies a thread for blocked_in_kernel(): the calling thread's kernel id on Linux.
inline long this_thread_kernel_id() noexcept {
#if defined(__linux__)
    return static_cast<long>(::syscall(SYS_gettid));
#else
    return 0;
#endif
}

// True once the thread `tid` (of this process) is asleep in the kernel (state S: blocked on a
// futex, e.g. a condition variable), false if it is not within `bound`. Lets a test prove that a
// blocking wait really blocked before it releases it, rather than sleeping and hoping. Without
// /proc (not Linux) it returns true at once, and the test only loses that proof.
inline bool blocked_in_kernel(long tid,
                              std::chrono::milliseconds bound = std::chrono::seconds(10)) {
#if defined(__linux__)
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
        const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return false;
        }
        char buf[512];
        const ssize_t n = ::read(fd, buf, sizeof buf - 1);
        ::close(fd);
        if (n <= 0) {
            return false;
        }
        buf[n] = '\0';
        // "tid (comm) S ...": the state follows the last ')' (comm may contain parentheses).
        const char* paren = std::strrchr(buf, ')');
        if (paren != nullptr && paren[1] == ' ' && paren[2] == 'S') {
            return true;
        }
        std::this_thread::yield();
    }
    return false;
#else
    (void)tid;
    (void)bound;
    return true;
#endif
}

} // namespace cotrait_test
