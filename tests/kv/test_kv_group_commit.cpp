// The file store's batch sync mode is a group commit across connections: one fdatasync covers
// the writes of every connection waiting, no reply leaves before the fdatasync that covers its
// write has returned, and every acknowledged write survives kill -9.
#include "kv_child.hpp"
#include "kv_running.hpp"
#include "kv_server.hpp"
#include "kv_storage.hpp"

#include <cotrait/interface.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>

using namespace std::chrono_literals;

namespace {

// `clients` threads, each doing `per_client` SETs one at a time (the reply before the next
// request); returns how many replies were not +OK.
int sequential_sets(unsigned short port, int clients, int per_client) {
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < clients; ++t) {
        ts.emplace_back([&, t] {
            kvtest::conn c(port);
            if (!c.connected()) {
                bad += per_client;
                return;
            }
            for (int i = 0; i < per_client; ++i) {
                const std::string k = "c" + std::to_string(t) + "-" + std::to_string(i);
                if (c.request("SET " + k + " v" + k) != "OK") {
                    ++bad;
                }
            }
        });
    }
    for (std::thread& th : ts) {
        th.join();
    }
    return bad.load();
}

// A one-shot gate for the flusher: the first group commit waits until open() is called.
struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool open_ = false;
    std::atomic<int> arrived{0};
    void wait() {
        ++arrived;
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return open_; });
    }
    void open() {
        {
            const std::lock_guard<std::mutex> lock(m);
            open_ = true;
        }
        cv.notify_all();
    }
};

} // namespace

TEST_CASE("batch sync: one fdatasync covers the SETs of every connection waiting") {
    // Lockstep rounds: each of `clients` connections sends one SET and waits for its reply; the
    // flusher may start a group commit only when the test lets it, after every SET of the round
    // has been written. With group commit that is one fdatasync per round; with an fdatasync per
    // connection the round could not complete.
    const unsigned threads = GENERATE(1U, 2U);
    INFO(threads << " I/O threads");
    kvtest::temp_dir dir("group_commit");
    const std::string path = (dir.path / "data.log").string();
    constexpr int clients = 8;
    constexpr int rounds = 20;
    std::counting_semaphore<> commits_allowed(0);
    std::atomic<bool> released{false}; // let every commit through (the test failed or ended)
    kv::file_options fo;
    fo.sync = kv::sync_mode::batch;
    fo.before_sync = [&] {
        if (!released) {
            (void)commits_allowed.try_acquire_for(10s);
        }
    };
    std::size_t commits = 0;
    {
        kv::file_store file(path, fo);
        cotrait::adapter<kv::storage, kv::file_store&> virt(file);
        kv::storage& store = virt;
        kvtest::running_server<kv::storage> srv(store, threads);
        std::atomic<int> bad{0};
        std::vector<std::thread> ts;
        for (int t = 0; t < clients; ++t) {
            ts.emplace_back([&, t] {
                kvtest::conn c(srv.port());
                for (int r = 0; r < rounds; ++r) {
                    const std::string k = "c" + std::to_string(t) + "-" + std::to_string(r);
                    if (c.request("SET " + k + " v" + k) != "OK") {
                        ++bad;
                        return;
                    }
                }
            });
        }
        bool lockstep = true;
        for (int r = 0; r < rounds && lockstep; ++r) {
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (file.writes() < std::uint64_t{clients} * (r + 1)) {
                if (std::chrono::steady_clock::now() > deadline) {
                    lockstep = false;
                    break;
                }
                std::this_thread::sleep_for(1ms); // polling a counter, with a deadline
            }
            commits_allowed.release();
        }
        CHECK(lockstep);
        released = true;
        commits_allowed.release(rounds);
        for (std::thread& th : ts) {
            th.join();
        }
        CHECK(bad == 0);
        srv.stop();
        commits = file.group_commits();
    }
    std::printf("group commit, %u I/O threads: %d SETs from %d connections, %zu fdatasync\n",
                threads, clients * rounds, clients, commits);
    CHECK(commits == std::size_t{rounds});
    kv::file_store reopened(path);
    const auto snap = reopened.snapshot();
    CHECK(snap.size() == std::size_t{clients} * rounds);
    CHECK(snap.at("c7-19") == "vc7-19");
}

TEST_CASE("batch sync: free-running connections, and the log reopens with every key") {
    const unsigned threads = GENERATE(1U, 2U);
    INFO(threads << " I/O threads");
    kvtest::temp_dir dir("group_commit_free");
    const std::string path = (dir.path / "data.log").string();
    constexpr int clients = 16;
    constexpr int per_client = 60;
    std::size_t commits = 0;
    {
        kv::file_options fo;
        fo.sync = kv::sync_mode::batch;
        kv::file_store file(path, fo);
        kvtest::running_server<kv::file_store> srv(file, threads); // the static path
        CHECK(sequential_sets(srv.port(), clients, per_client) == 0);
        srv.stop();
        commits = file.group_commits();
    }
    // How many SETs share an fdatasync depends on the disk's latency: printed, not asserted.
    std::printf("group commit, free-running, %u I/O threads: %d SETs, %zu fdatasync\n", threads,
                clients * per_client, commits);
    kv::file_store reopened(path);
    const auto snap = reopened.snapshot();
    CHECK(snap.size() == std::size_t{clients} * per_client);
    CHECK(snap.at("c15-59") == "vc15-59");
}

namespace {

// When the flusher resumes sync(), this coroutine goes on there and destroys sync()'s frame at
// once, possibly before the thread that suspended it has left await_suspend.
cotrait::static_task<void> sync_then_signal(kv::file_store& file, std::binary_semaphore* done) {
    co_await file.sync();
    if (done != nullptr) {
        done->release();
    }
}

} // namespace

TEST_CASE("batch sync: a waiter's frame freed by the flusher is never touched by its suspender") {
    // Regression: sync()'s awaiter read the store through its own frame after queueing the
    // coroutine for the flusher, a use after free that ASan saw in about 1 run in 20 of the
    // free-running test. Here the suspender is held just after releasing the store's lock until
    // the flusher has resumed and finished its coroutine.
    kvtest::temp_dir dir("group_commit_frame");
    kv::file_options fo;
    fo.sync = kv::sync_mode::batch;
    std::binary_semaphore queued(0);
    std::binary_semaphore finished(0);
    std::atomic<int> hook_calls{0};
    std::atomic<bool> finished_in_time{false};
    fo.after_sync_queued = [&] {
        if (hook_calls.fetch_add(1) == 0) {
            queued.release();
            finished_in_time = finished.try_acquire_for(10s);
        }
    };
    kv::file_store file((dir.path / "data.log").string(), fo);
    cotrait::sync_wait(file.set("a", "1"));
    std::thread first([&] { cotrait::sync_wait(sync_then_signal(file, &finished)); });
    REQUIRE(queued.try_acquire_for(10s));
    first.join();
    CHECK(finished_in_time);
    CHECK(file.group_commits() == 1);
}

TEST_CASE("batch sync: many callers joining group commits in flight") {
    // The same window without a hook: one writer keeps group commits in flight while more
    // threads than cores join them with sync() alone.
    kvtest::temp_dir dir("group_commit_join");
    const std::string path = (dir.path / "data.log").string();
    constexpr int syncers = 8;
    constexpr int writes = 2000;
    kv::file_options fo;
    fo.sync = kv::sync_mode::batch;
    {
        kv::file_store file(path, fo);
        std::atomic<bool> writing{true};
        std::atomic<int> failures{0};
        std::vector<std::thread> ts;
        for (int t = 0; t < syncers; ++t) {
            ts.emplace_back([&] {
                while (writing) {
                    try {
                        cotrait::sync_wait(sync_then_signal(file, nullptr));
                    } catch (...) {
                        ++failures;
                    }
                }
            });
        }
        for (int i = 0; i < writes; ++i) {
            const std::string k = "k" + std::to_string(i);
            cotrait::sync_wait(file.set(k, "v" + k));
            cotrait::sync_wait(sync_then_signal(file, nullptr));
        }
        writing = false;
        for (std::thread& th : ts) {
            th.join();
        }
        CHECK(failures == 0);
        CHECK(file.group_commits() >= 1);
    }
    kv::file_store reopened(path);
    CHECK(reopened.snapshot().size() == std::size_t{writes});
}

TEST_CASE("batch sync: no reply before the fdatasync covering its write has returned") {
    kvtest::temp_dir dir("group_commit_gate");
    gate g;
    kv::file_options fo;
    fo.sync = kv::sync_mode::batch;
    std::atomic<bool> first{true};
    fo.before_sync = [&] {
        if (first.exchange(false)) {
            g.wait();
        }
    };
    kv::file_store file((dir.path / "data.log").string(), fo);
    kvtest::running_server<kv::file_store> srv(file, 2);
    kvtest::conn a(srv.port());
    kvtest::conn b(srv.port());
    REQUIRE(a.send("SET a 1\r\n"));
    REQUIRE(b.send("SET b 2\r\n"));
    pollfd p[2] = {{a.fd(), POLLIN, 0}, {b.fd(), POLLIN, 0}};
    CHECK(::poll(p, 2, 300) == 0); // the fdatasync is held back: nothing may be acknowledged
    CHECK(g.arrived == 1);
    CHECK(file.group_commits() == 0);
    g.open();
    CHECK(a.line() == "OK");
    CHECK(b.line() == "OK");
    CHECK(file.group_commits() >= 1);
    CHECK(a.request("GET b") == "2"); // reads go on, and wait for nothing
}

TEST_CASE("batch sync: every acknowledged SET from concurrent clients survives kill -9") {
    kvtest::temp_dir dir("group_commit_crash");
    const std::string file = (dir.path / "data.log").string();
    std::mt19937 rng(4711);
    std::size_t acked_total = 0;
    std::size_t lost = 0;
    std::string first_lost;
    for (int round = 0; round < 4; ++round) {
        const std::string threads = round % 2 == 0 ? "1" : "2";
        std::map<std::string, std::string> acked;
        std::mutex acked_m;
        {
            kvtest::child s({"--file", file, "--sync", "batch", "--threads", threads},
                            dir.path / "server.log");
            REQUIRE(s.port() != 0);
            constexpr int clients = 8;
            std::vector<std::thread> ts;
            for (int t = 0; t < clients; ++t) {
                ts.emplace_back([&, t] {
                    kvtest::conn c(s.port());
                    for (int i = 0;; ++i) {
                        const std::string k = "r" + std::to_string(round) + "c" +
                                              std::to_string(t) + "-" + std::to_string(i);
                        const std::string v = "v" + std::to_string(i);
                        if (c.request("SET " + k + " " + v) != "OK") {
                            return; // killed
                        }
                        const std::lock_guard<std::mutex> lock(acked_m);
                        acked[k] = v;
                    }
                });
            }
            // The moment of the crash: random by design.
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 400)(rng)));
            REQUIRE(s.kill9());
            for (std::thread& th : ts) {
                th.join();
            }
        }
        kv::file_store reopened(file);
        const auto snap = reopened.snapshot();
        for (const auto& [k, v] : acked) {
            auto it = snap.find(k);
            if (it == snap.end() || it->second != v) {
                if (lost++ == 0) {
                    first_lost = k;
                }
            }
        }
        acked_total += acked.size();
    }
    std::printf("group commit crash test: %zu acknowledged SETs, %zu lost\n", acked_total, lost);
    INFO("first lost key: " << first_lost);
    CHECK(acked_total > 100);
    CHECK(lost == 0);
}
