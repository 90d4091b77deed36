// channel<T> under adversarial conditions: items whose move constructor throws (nothing may be
// lost, no waiter may be left suspended forever), close racing with send/receive, and cancellation
// racing with delivery.
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/cancellation.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <vector>

namespace {

struct move_failure : std::runtime_error {
    move_failure() : std::runtime_error("flaky: move failed") {}
};

// A value whose move constructor throws while its id is the armed one.
struct flaky {
    static inline int fail_id = -1; // single-threaded tests only
    int id;
    explicit flaky(int i) : id(i) {}
    flaky(flaky&& o) : id(o.id) { // NOLINT: throwing on purpose
        if (o.id == fail_id) {
            throw move_failure();
        }
    }
    flaky(const flaky&) = delete;
    flaky& operator=(const flaky&) = delete;
    flaky& operator=(flaky&&) = delete;
    ~flaky() = default;
};

struct disarm {
    ~disarm() { flaky::fail_id = -1; }
};

} // namespace

TEST_CASE(
    "channel review: a send whose hand-over to a waiting receiver throws keeps the receiver") {
    const disarm guard;
    cotrait::channel<flaky> ch(1);
    cotrait::async_scope scope;
    std::optional<int> got;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        std::optional<flaky> v = co_await ch.receive();
        if (v) {
            got = v->id;
        }
    });
    REQUIRE(scope.running() == 1);
    bool send_failed = false;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        auto aw = ch.send(flaky(7));
        flaky::fail_id = 7; // the next move of value 7 is the hand-over
        try {
            co_await aw;
        } catch (const move_failure&) {
            send_failed = true;
        }
        flaky::fail_id = -1;
        co_await ch.send(flaky(8));
    }());
    CHECK(send_failed);
    CHECK(got == 8); // the receiver is still there and gets the next value
    CHECK(ch.size() == 0);
    REQUIRE(scope.running() == 0);
    cotrait::sync_wait(scope.join());
}

TEST_CASE("channel review: try_send whose hand-over throws keeps the receiver") {
    const disarm guard;
    cotrait::channel<flaky> ch(1);
    cotrait::async_scope scope;
    std::optional<int> got;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        std::optional<flaky> v = co_await ch.receive();
        if (v) {
            got = v->id;
        }
    });
    flaky bad(7);
    flaky::fail_id = 7;
    CHECK_THROWS_AS((void)ch.try_send(bad), move_failure);
    flaky::fail_id = -1;
    flaky good(8);
    CHECK(ch.try_send(good));
    CHECK(got == 8);
    REQUIRE(scope.running() == 0);
    cotrait::sync_wait(scope.join());
}

namespace {

// A full channel (value 1 buffered) with a sender of value 2 waiting; value 2's move throws.
// Whatever takes value 1 must get it, and the waiting sender must be resumed with the failure.
struct refill_fixture {
    cotrait::channel<flaky> ch{1};
    cotrait::async_scope scope;
    bool sender_failed = false;
    bool sender_done = false;

    refill_fixture() {
        cotrait::sync_wait(ch.send(flaky(1)));
        scope.spawn([this]() -> cotrait::boxed_task<> {
            try {
                co_await ch.send(flaky(2));
            } catch (const move_failure&) {
                sender_failed = true;
            }
            sender_done = true;
        });
        REQUIRE(scope.running() == 1); // the sender waits: the channel is full
        flaky::fail_id = 2;
    }
};

} // namespace

TEST_CASE("channel review: try_receive when the waiting sender's value cannot move in") {
    const disarm guard;
    refill_fixture f;
    std::optional<int> got;
    CHECK_NOTHROW([&] {
        if (std::optional<flaky> v = f.ch.try_receive()) {
            got = v->id;
        }
    }());
    flaky::fail_id = -1;
    CHECK(got == 1);        // the buffered value is not lost
    CHECK(f.sender_done);   // the sender is not left waiting forever
    CHECK(f.sender_failed); // and learns that its value was not delivered
    CHECK(f.ch.size() == 0);
    REQUIRE(f.scope.running() == 0);
    cotrait::sync_wait(f.scope.join());
}

TEST_CASE("channel review: co_await receive when the waiting sender's value cannot move in") {
    const disarm guard;
    refill_fixture f;
    std::optional<int> got;
    bool receive_failed = false;
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        try {
            std::optional<flaky> v = co_await f.ch.receive();
            if (v) {
                got = v->id;
            }
        } catch (const move_failure&) {
            receive_failed = true;
        }
    }());
    flaky::fail_id = -1;
    CHECK_FALSE(receive_failed);
    CHECK(got == 1);
    CHECK(f.sender_done);
    CHECK(f.sender_failed);
    REQUIRE(f.scope.running() == 0);
    cotrait::sync_wait(f.scope.join());
}

TEST_CASE("channel review: the next waiting sender gets the room a failed value left") {
    const disarm guard;
    refill_fixture f;
    bool third_done = false;
    f.scope.spawn([&]() -> cotrait::boxed_task<> {
        co_await f.ch.send(flaky(3));
        third_done = true;
    });
    std::optional<int> got;
    if (std::optional<flaky> v = f.ch.try_receive()) {
        got = v->id;
    }
    flaky::fail_id = -1;
    CHECK(got == 1);
    CHECK(f.sender_failed);
    CHECK(third_done); // value 3 took the place value 2 could not
    std::optional<int> next;
    if (std::optional<flaky> v = f.ch.try_receive()) {
        next = v->id;
    }
    CHECK(next == 3);
    REQUIRE(f.scope.running() == 0);
    cotrait::sync_wait(f.scope.join());
}
