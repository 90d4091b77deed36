// cotrait::instrumented: per-method calls, failures, in-flight calls, latency and frames of any
// COTRAIT_INTERFACE, and the table it prints.
#include <cotrait/async_event.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/instrumented.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/when_all.hpp>

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace instr {

ASYNC_INTERFACE(Counter, (add, (int), ((int)n)), (fail, (void), ((std::string)why)),
                (total, (int), () const),
                (twice, (int), ((int)n), { co_return 2 * co_await add(n); }));

ASYNC_INTERFACE_EXTENDS(GatedCounter, Counter, (wait_then, (int), ((int)n)));

// Thread-affine tasks, and a reference result.
ASYNC_LOCAL_INTERFACE(Slots, (slot, (int&), ((int)i)), (clear, (void), ()));

struct SlotsImpl {
    int values[4] = {};
    cotrait::static_task<int&> slot(int i) { co_return values[i]; }
    cotrait::static_task<void> clear() {
        for (int& v : values) {
            v = 0;
        }
        co_return;
    }
};

struct CounterImpl {
    int sum = 0;
    cotrait::async_event* gate = nullptr;
    cotrait::static_task<int> add(int n) {
        sum += n;
        co_return sum;
    }
    cotrait::static_task<void> fail(std::string why) {
        throw std::runtime_error(why);
        co_return;
    }
    cotrait::static_task<int> total() const { co_return sum; }
    cotrait::static_task<int> wait_then(int n) {
        co_await gate->wait();
        co_return n;
    }
};

const cotrait::method_stats& row(const std::vector<cotrait::method_stats>& rows,
                                 std::string_view name) {
    for (const auto& r : rows) {
        if (r.info.name == name) {
            return r;
        }
    }
    throw std::logic_error("no such method");
}

} // namespace instr

using instr::row;

TEST_CASE("instrumented counts calls and failures exactly, and forwards results") {
    auto inner = cotrait::make_adapter<instr::Counter>(instr::CounterImpl{});
    cotrait::instrumented<instr::Counter> counted(*inner);
    instr::Counter& c = counted;
    for (int i = 1; i <= 5; ++i) {
        CHECK(cotrait::sync_wait(c.add(i)) == i * (i + 1) / 2);
    }
    for (int i = 0; i < 3; ++i) {
        CHECK_THROWS_AS(cotrait::sync_wait(c.fail("no")), std::runtime_error);
    }
    CHECK(cotrait::sync_wait(c.total()) == 15);
    // The provided method is forwarded to the inner object (whose default calls its own add).
    CHECK(cotrait::sync_wait(c.twice(1)) == 32);

    const auto rows = counted.cotrait_stats();
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].info.name == "add");
    CHECK(row(rows, "add").calls == 5);
    CHECK(row(rows, "add").failures == 0);
    CHECK(row(rows, "add").completed == 5);
    CHECK(row(rows, "fail").calls == 3);
    CHECK(row(rows, "fail").failures == 3);
    CHECK(row(rows, "fail").completed == 3);
    CHECK(row(rows, "total").calls == 1);
    CHECK(row(rows, "twice").calls == 1);
    for (const auto& r : rows) {
        CHECK(r.in_flight == 0);
        std::uint64_t in_histogram = 0;
        for (std::uint64_t n : r.histogram) {
            in_histogram += n;
        }
        CHECK(in_histogram == r.completed);
        CHECK(r.quantile_ns(0.5) <= r.max_ns);
    }
}

TEST_CASE("instrumented sees a call in flight until it completes") {
    cotrait::async_event gate;
    instr::CounterImpl impl;
    impl.gate = &gate;
    cotrait::adapter<instr::GatedCounter, instr::CounterImpl&> inner(impl);
    cotrait::instrumented<instr::GatedCounter> counted(inner);

    std::uint64_t seen_in_flight = 99;
    std::uint64_t seen_completed = 99;
    // when_all starts the gated call first: it suspends on the gate; the second task looks at
    // the counters, then opens the gate.
    auto [n, ignored] = cotrait::sync_wait(
        cotrait::when_all(counted.wait_then(7), [&]() -> cotrait::boxed_task<int> {
            const auto rows = counted.cotrait_stats();
            seen_in_flight = row(rows, "wait_then").in_flight;
            seen_completed = row(rows, "wait_then").completed;
            gate.set();
            co_return 0;
        }()));
    CHECK(n == 7);
    CHECK(seen_in_flight == 1);
    CHECK(seen_completed == 0);
    const auto rows = counted.cotrait_stats();
    CHECK(row(rows, "wait_then").in_flight == 0);
    CHECK(row(rows, "wait_then").completed == 1);
    // A method of the base interface is counted in the derived interface's table.
    CHECK(rows.size() == 5);
    CHECK(rows[4].info.name == "wait_then");
}

TEST_CASE("instrumented counts the inner call's frame and adds exactly one of its own") {
    auto inner = cotrait::make_adapter<instr::Counter>(instr::CounterImpl{});
    // The undecorated call: one frame (the implementation's), of a size the resource reports.
    const cotrait::frame_usage direct = cotrait::measure_frames([&] { return inner->add(1); });
    REQUIRE(direct.frames == 1);

    cotrait::instrumented<instr::Counter> counted(*inner);
    // Through the decorator the per-scope resource sees only the decorator's frame: the inner
    // frame is allocated from the decorator's counting resource for that method.
    const cotrait::frame_usage outer = cotrait::measure_frames([&] { return counted.add(1); });
    CHECK(outer.frames == 1);
    cotrait::sync_wait(counted.add(1));
    const auto rows = counted.cotrait_stats();
    CHECK(row(rows, "add").calls == 2);
    CHECK(row(rows, "add").frames == 2);
    CHECK(row(rows, "add").bytes == 2 * direct.bytes);
}

TEST_CASE("instrumented report prints one aligned line per method") {
    auto inner = cotrait::make_adapter<instr::Counter>(instr::CounterImpl{});
    cotrait::instrumented<instr::Counter, std::unique_ptr<instr::Counter>> counted(
        std::move(inner));
    for (int i = 0; i < 4; ++i) {
        cotrait::sync_wait(counted.add(i));
    }
    CHECK_THROWS(cotrait::sync_wait(counted.fail("x")));
    std::ostringstream os;
    counted.cotrait_report(os);
    const std::string text = os.str();
    std::istringstream lines(text);
    std::vector<std::vector<std::string>> table;
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> cells;
        for (std::string w; words >> w;) {
            cells.push_back(w);
        }
        table.push_back(cells);
    }
    REQUIRE(table.size() == 5);
    CHECK(table[0] == std::vector<std::string>{"method", "calls", "failures", "in-flight", "p50",
                                               "p99", "max", "frames/call", "bytes/call"});
    REQUIRE(table[1].size() == 9);
    CHECK(table[1][0] == "Counter::add");
    CHECK(table[1][1] == "4");
    CHECK(table[1][2] == "0");
    CHECK(table[1][3] == "0");
    CHECK(table[1][7] == "1.00");
    CHECK(table[2][0] == "Counter::fail");
    CHECK(table[2][1] == "1");
    CHECK(table[2][2] == "1");
    // Never called: no latency, no ratio.
    CHECK(table[3] ==
          std::vector<std::string>{"Counter::total", "0", "0", "0", "0ns", "0ns", "0ns", "-", "-"});
    // Every line has the same length (columns aligned).
    std::istringstream again(text);
    std::size_t width = 0;
    for (std::string line; std::getline(again, line);) {
        if (width == 0) {
            width = line.size();
        }
        CHECK(line.size() == width);
    }
}

TEST_CASE("instrumented counts a call that throws before returning a task as a failure") {
    // A virtual implementation whose override is not a coroutine and throws at the call.
    struct Throwing final : instr::Counter {
        cotrait::boxed_task<int> add(int /*n*/) override { throw std::length_error("at the call"); }
        cotrait::boxed_task<void> fail(std::string /*why*/) override { co_return; }
        cotrait::boxed_task<int> total() const override { co_return 0; }
    } inner;
    cotrait::instrumented<instr::Counter> counted(inner);
    CHECK_THROWS_AS(counted.add(1), std::length_error);
    // The per-call frame scope was left: later frames come from the usual resource again.
    CHECK(cotrait::measure_frames([&] { return counted.total(); }).frames == 1);
    const auto rows = counted.cotrait_stats();
    CHECK(row(rows, "add").calls == 1);
    CHECK(row(rows, "add").failures == 1);
    CHECK(row(rows, "add").completed == 0);
    CHECK(row(rows, "total").failures == 0);
}

TEST_CASE("instrumented wraps local interfaces and passes references through") {
    instr::SlotsImpl impl;
    cotrait::adapter<instr::Slots, instr::SlotsImpl&> inner(impl);
    cotrait::instrumented<instr::Slots> counted(inner);
    int& r = cotrait::sync_wait(counted.slot(2));
    CHECK(&r == &impl.values[2]);
    r = 5;
    cotrait::sync_wait(counted.clear());
    CHECK(impl.values[2] == 0);
    const auto rows = counted.cotrait_stats();
    CHECK(row(rows, "slot").calls == 1);
    CHECK(row(rows, "clear").calls == 1);
    CHECK(row(rows, "clear").completed == 1);
}

TEST_CASE("instrumented rejects a null owner") {
    std::unique_ptr<instr::Counter> none;
    using counted = cotrait::instrumented<instr::Counter, std::unique_ptr<instr::Counter>>;
    CHECK_THROWS_AS(counted(std::move(none)), std::invalid_argument);
}

TEST_CASE("instrumented counts exactly when called from several threads") {
    // The implementation is called concurrently, so it must tolerate it: total() only reads.
    struct Reader {
        cotrait::static_task<int> add(int n) { co_return n; }
        cotrait::static_task<void> fail(std::string why) {
            throw std::runtime_error(why);
            co_return;
        }
        cotrait::static_task<int> total() const { co_return 1; }
    };
    cotrait::adapter<instr::Counter, Reader> inner{Reader{}};
    cotrait::instrumented<instr::Counter> counted(inner);
    constexpr int threads = 4;
    constexpr int calls = 500;
    std::vector<std::thread> pool;
    std::vector<int> sums(threads, 0);
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < calls; ++i) {
                sums[static_cast<std::size_t>(t)] += cotrait::sync_wait(counted.total());
                if (i % 10 == 0) {
                    try {
                        cotrait::sync_wait(counted.fail("x"));
                    } catch (const std::runtime_error&) {
                        sums[static_cast<std::size_t>(t)] += 1000;
                    }
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    for (int s : sums) {
        CHECK(s == calls + 1000 * (calls / 10));
    }
    const auto rows = counted.cotrait_stats();
    CHECK(row(rows, "total").calls == threads * calls);
    CHECK(row(rows, "total").completed == threads * calls);
    CHECK(row(rows, "total").frames == threads * calls);
    CHECK(row(rows, "total").in_flight == 0);
    CHECK(row(rows, "fail").calls == threads * calls / 10);
    CHECK(row(rows, "fail").failures == threads * calls / 10);
}
