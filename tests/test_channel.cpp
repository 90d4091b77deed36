// channel<T>: FIFO delivery, backpressure, close semantics, misuse, and a multi-producer /
// multi-consumer stress test on a pool that checks nothing is lost or duplicated.
#include "support/test_support.hpp"

#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>

#include <catch2/catch_test_macros.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

TEST_CASE("channel: capacity 0 is rejected") {
    CHECK_THROWS_AS(cotrait::channel<int>(0), std::invalid_argument);
}

TEST_CASE("channel: values arrive in order, move-only values work") {
    cotrait::channel<std::unique_ptr<int>> ch(4);
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        for (int i = 0; i < 3; ++i) {
            co_await ch.send(std::make_unique<int>(i));
        }
        CHECK(ch.size() == 3);
        for (int i = 0; i < 3; ++i) {
            std::optional<std::unique_ptr<int>> v = co_await ch.receive();
            REQUIRE(v.has_value());
            CHECK(**v == i);
        }
    }());
}

TEST_CASE("channel: a full channel suspends the sender until a receiver makes room") {
    cotrait::channel<int> ch(2);
    cotrait::async_scope scope;
    int sent = 0;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        for (int i = 0; i < 5; ++i) {
            co_await ch.send(i);
            ++sent;
        }
    });
    CHECK(sent == 2); // backpressure: the third send waits
    std::vector<int> got;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        for (int i = 0; i < 5; ++i) {
            got.push_back(*co_await ch.receive());
        }
    }());
    CHECK(sent == 5);
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
    cotrait::sync_wait(scope.join());
}

TEST_CASE("channel: a waiting receiver gets the value handed over directly") {
    cotrait::channel<std::string> ch(1);
    cotrait::async_scope scope;
    std::optional<std::string> got;
    scope.spawn([&]() -> cotrait::boxed_task<> { got = co_await ch.receive(); });
    CHECK_FALSE(got.has_value());
    std::string v = "hello";
    CHECK(ch.try_send(v));
    CHECK(got == "hello");
    CHECK(ch.size() == 0);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("channel: close drains buffered values, then yields nullopt; sends throw") {
    cotrait::channel<int> ch(4);
    int v = 7;
    REQUIRE(ch.try_send(v));
    ch.close();
    ch.close(); // idempotent
    CHECK(ch.closed());
    int w = 8;
    CHECK_FALSE(ch.try_send(w));
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        std::optional<int> first = co_await ch.receive();
        CHECK(first == std::optional<int>(7));
        std::optional<int> second = co_await ch.receive();
        CHECK_FALSE(second.has_value());
        bool refused = false;
        try {
            co_await ch.send(9);
        } catch (const cotrait::channel_closed&) {
            refused = true;
        }
        CHECK(refused);
    }());
    CHECK(ch.try_receive() == std::nullopt);
}

TEST_CASE("channel: close wakes waiting receivers with nullopt and waiting senders with an error") {
    cotrait_test::counters c;
    {
        cotrait::channel<cotrait_test::counted> full(1);
        cotrait::channel<int> empty(1);
        cotrait::async_scope scope;
        int receivers_done = 0;
        int senders_failed = 0;
        for (int i = 0; i < 3; ++i) {
            scope.spawn([&]() -> cotrait::boxed_task<> {
                std::optional<int> v = co_await empty.receive();
                if (!v.has_value()) {
                    ++receivers_done;
                }
            });
        }
        cotrait::sync_wait(full.send(cotrait_test::counted(c, 1)));
        for (int i = 0; i < 2; ++i) {
            scope.spawn([&]() -> cotrait::boxed_task<> {
                try {
                    co_await full.send(cotrait_test::counted(c, 2));
                } catch (const cotrait::channel_closed&) {
                    ++senders_failed;
                }
            });
        }
        CHECK(receivers_done == 0);
        CHECK(senders_failed == 0);
        empty.close();
        full.close();
        CHECK(receivers_done == 3);
        CHECK(senders_failed == 2);
        auto left = full.try_receive();
        REQUIRE(left.has_value());
        CHECK(left->value() == 1);
        cotrait::sync_wait(scope.join());
    }
    CHECK(c.alive() == 0); // values of refused sends are destroyed, none leaks
}

TEST_CASE("channel: try_receive makes room for a waiting sender") {
    cotrait::channel<int> ch(1);
    cotrait::async_scope scope;
    int sent = 0;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await ch.send(1);
        co_await ch.send(2);
        sent = 2;
    });
    CHECK(sent == 0);
    CHECK(ch.try_receive() == std::optional<int>(1));
    CHECK(sent == 2);
    CHECK(ch.try_receive() == std::optional<int>(2));
    CHECK(ch.try_receive() == std::nullopt);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("channel stress: several producers and consumers on a pool, nothing lost or duplicated") {
    constexpr int producers = 4;
    constexpr int consumers = 4;
    constexpr int per_producer = 5000;
    cotrait::thread_pool pool(4);
    cotrait::channel<int> ch(8);
    std::vector<std::vector<int>> received(consumers);
    cotrait::async_scope producing;
    cotrait::async_scope consuming;
    for (int k = 0; k < consumers; ++k) {
        consuming.spawn([&, k]() -> cotrait::boxed_task<> {
            co_await pool.schedule();
            while (std::optional<int> v = co_await ch.receive()) {
                received[static_cast<std::size_t>(k)].push_back(*v);
            }
        });
    }
    for (int p = 0; p < producers; ++p) {
        producing.spawn([&, p]() -> cotrait::boxed_task<> {
            co_await pool.schedule();
            for (int i = 0; i < per_producer; ++i) {
                co_await ch.send(p * per_producer + i);
                if (i % 64 == 0) {
                    co_await pool.schedule(); // mix thread hops into the traffic
                }
            }
        });
    }
    cotrait::sync_wait(producing.join());
    ch.close();
    cotrait::sync_wait(consuming.join());

    std::vector<int> seen(static_cast<std::size_t>(producers * per_producer), 0);
    for (const auto& r : received) {
        // Each producer's values arrive in the order it sent them.
        std::vector<int> last(producers, -1);
        for (int v : r) {
            ++seen[static_cast<std::size_t>(v)];
            const int p = v / per_producer;
            CHECK(v > last[static_cast<std::size_t>(p)]);
            last[static_cast<std::size_t>(p)] = v;
        }
    }
    for (int n : seen) {
        REQUIRE(n == 1);
    }
}
