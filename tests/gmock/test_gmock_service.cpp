// A small service tested against a gMock mock of the async interface it depends on, with the
// actions of cotrait/testing/gmock.hpp.
#include <cotrait/async_event.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/profile.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/task_error.hpp>
#include <cotrait/testing/gmock.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/when_all.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace {

ASYNC_INTERFACE(Quotes, (price, (int), ((int)item)), (reserve, (void), ((int)item)));

// The service under test: totals a basket, skipping items without a price (out_of_range), and
// reserves every priced item.
class Checkout {
public:
    explicit Checkout(Quotes& quotes) : quotes_(&quotes) {}

    cotrait::boxed_task<int> total(std::vector<int> items) {
        int sum = 0;
        for (int item : items) {
            try {
                sum += co_await quotes_->price(item);
            } catch (const std::out_of_range&) {
                ++skipped;
                continue;
            }
            co_await quotes_->reserve(item);
        }
        co_return sum;
    }

    int skipped = 0;

private:
    Quotes* quotes_;
};

class MockQuotes : public Quotes {
public:
    MOCK_METHOD(cotrait::boxed_task<int>, price, (int), (override));
    MOCK_METHOD(cotrait::boxed_task<void>, reserve, (int), (override));
};

class FixedQuotes final : public Quotes {
public:
    cotrait::boxed_task<int> price(int item) override { co_return item * 100; }
    cotrait::boxed_task<void> reserve(int /*item*/) override { co_return; }
};

using cotrait::testing::AwaitResult;
using cotrait::testing::ReturnAfter;
using cotrait::testing::ReturnOn;
using cotrait::testing::ReturnReady;
using cotrait::testing::ThrowAsync;
using ::testing::_;

TEST(CheckoutWithMock, SumsReadyPricesAndReservesEachItem) {
    MockQuotes quotes;
    EXPECT_CALL(quotes, price(1)).WillOnce(ReturnReady(10));
    EXPECT_CALL(quotes, price(2)).WillOnce(ReturnReady(20));
    EXPECT_CALL(quotes, reserve(_)).Times(2).WillRepeatedly(ReturnReady());
    Checkout checkout(quotes);
    EXPECT_EQ(cotrait::sync_wait(checkout.total({1, 2})), 30);
}

TEST(CheckoutWithMock, ReadyActionsCostNoFrame) {
    MockQuotes quotes;
    EXPECT_CALL(quotes, price(_)).WillRepeatedly(ReturnReady(5));
    EXPECT_CALL(quotes, reserve(_)).WillRepeatedly(ReturnReady());
    Checkout checkout(quotes);
    // Only the service's own coroutine: the mock's answers are frameless.
    EXPECT_EQ(cotrait::measure_frames([&] { return checkout.total({1, 2, 3}); }).frames, 1U);
    // A gated answer is a coroutine of its own.
    cotrait::async_event open(cotrait::reset_mode::manual, true);
    EXPECT_CALL(quotes, price(9)).WillOnce(ReturnAfter(open, 1));
    EXPECT_EQ(cotrait::measure_frames([&] { return checkout.total({9}); }).frames, 2U);
}

TEST(CheckoutWithMock, AsyncFailureIsSeenAtTheAwait) {
    MockQuotes quotes;
    EXPECT_CALL(quotes, price(1)).WillOnce(ThrowAsync(std::out_of_range("no price")));
    EXPECT_CALL(quotes, price(2)).WillOnce(ReturnReady(7));
    EXPECT_CALL(quotes, reserve(2)).WillOnce(ReturnReady());
    Checkout checkout(quotes);
    EXPECT_EQ(cotrait::sync_wait(checkout.total({1, 2})), 7);
    EXPECT_EQ(checkout.skipped, 1);
    // Other exceptions propagate out of the service.
    EXPECT_CALL(quotes, price(3)).WillOnce(ThrowAsync(std::runtime_error("down")));
    EXPECT_THROW(cotrait::sync_wait(checkout.total({3})), std::runtime_error);
}

TEST(CheckoutWithMock, CallHeldInFlightUntilTheGateOpens) {
    MockQuotes quotes;
    cotrait::async_event gate;
    EXPECT_CALL(quotes, price(1)).WillOnce(ReturnAfter(gate, 42));
    EXPECT_CALL(quotes, reserve(1)).WillOnce(ReturnReady());
    Checkout checkout(quotes);
    bool opened = false;
    // when_all starts the checkout first: it suspends on the gate, then the second task opens it.
    auto [sum, ignored] = cotrait::sync_wait(
        cotrait::when_all(checkout.total({1}), [&]() -> cotrait::boxed_task<int> {
            opened = true;
            gate.set();
            co_return 0;
        }()));
    EXPECT_TRUE(opened);
    EXPECT_EQ(sum, 42);
}

cotrait::boxed_task<void> total_then_note_thread(Checkout& checkout, int& sum,
                                                 std::thread::id& resumed_on) {
    // Not `total({1})`: GCC 12 rejects a braced list in a co_await operand ("array used as
    // initializer").
    std::vector<int> items{1};
    sum = co_await checkout.total(std::move(items));
    resumed_on = std::this_thread::get_id();
}

TEST(CheckoutWithMock, AnswerCompletesOnAnExecutor) {
    MockQuotes quotes;
    cotrait::thread_pool pool(1);
    EXPECT_CALL(quotes, price(1)).WillOnce(ReturnOn(pool, 3));
    EXPECT_CALL(quotes, reserve(1)).WillOnce(ReturnOn(pool));
    Checkout checkout(quotes);
    const std::thread::id caller = std::this_thread::get_id();
    std::thread::id resumed_on;
    int sum = 0;
    cotrait::sync_wait(total_then_note_thread(checkout, sum, resumed_on));
    EXPECT_EQ(sum, 3);
    EXPECT_NE(resumed_on, caller);
}

TEST(CheckoutWithMock, DelegatesToAnotherAwaitable) {
    MockQuotes quotes;
    FixedQuotes real;
    EXPECT_CALL(quotes, price(_)).WillRepeatedly(AwaitResult([&](int item) {
        return real.price(item + 1);
    }));
    EXPECT_CALL(quotes, reserve(_)).WillRepeatedly(AwaitResult([&](int item) {
        return real.reserve(item);
    }));
    Checkout checkout(quotes);
    EXPECT_EQ(cotrait::sync_wait(checkout.total({1, 2})), 500);
}

TEST(CheckoutWithMock, CallWithoutActionFailsLoudlyAtTheAwait) {
    ::testing::NiceMock<MockQuotes> quotes; // uninteresting calls allowed: only the task fails
    Checkout checkout(quotes);
    EXPECT_THROW(cotrait::sync_wait(checkout.total({1})), cotrait::task_misuse);
}

} // namespace
