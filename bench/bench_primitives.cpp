// Per-operation cost of the service primitives (issue 14): async_mutex, async_semaphore,
// async_event, channel, when_any, sleep_for / with_timeout, resume_on, spawn_with_handle. Each
// benchmark runs its loop inside one coroutine on a run_loop (single thread, no contention) unless
// its name says otherwise, so the numbers are the primitives' own bookkeeping, not scheduling
// noise. Baselines (a plain co_await, when_all, spawn) are printed next to them.
#include <cotrait/async_event.hpp>
#include <cotrait/async_mutex.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/async_semaphore.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/channel.hpp>
#include <cotrait/resume_on.hpp>
#include <cotrait/run_loop.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>
#include <cotrait/timer.hpp>
#include <cotrait/when_all.hpp>
#include <cotrait/when_any.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>
#include <stop_token>

namespace {

using namespace std::chrono_literals;

cotrait::boxed_task<int> immediate(int v) {
    co_return v;
}

// A run_loop adapter that never claims to be "already there", so resume_on always hops.
struct always_hop {
    cotrait::run_loop* loop;
    auto schedule() { return loop->schedule(); }
};

template <class Body>
void on_loop(benchmark::State& state, Body body) {
    cotrait::run_loop loop;
    loop.run(body(state, loop));
}

// ---- baseline --------------------------------------------------------------------------------
void BM_baseline_await_immediate_task(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await immediate(1));
        }
    });
}

// ---- async_mutex ------------------------------------------------------------------------------
void BM_mutex_scoped_lock_uncontended(benchmark::State& state) {
    cotrait::async_mutex m;
    on_loop(state, [&m](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            auto g = co_await m.scoped_lock();
            benchmark::DoNotOptimize(&g);
        }
    });
}

// Two coroutines on one thread take turns: every lock is a hand-off to a suspended waiter.
void BM_mutex_handoff_two_coroutines(benchmark::State& state) {
    cotrait::async_mutex m;
    cotrait::run_loop loop;
    cotrait::async_scope scope;
    bool stop = false;
    loop.run([&]() -> cotrait::boxed_task<> {
        auto g0 = co_await m.scoped_lock();
        scope.spawn([&]() -> cotrait::boxed_task<> {
            while (!stop) {
                auto g = co_await m.scoped_lock();
                co_await loop.schedule(); // let the other one queue behind
            }
        });
        g0.unlock();
        for (auto _ : state) {
            auto g = co_await m.scoped_lock();
            co_await loop.schedule();
        }
        stop = true;
        co_await scope.join();
    }());
    state.SetLabel("per lock: one hand-off + one run_loop schedule");
}

// ---- async_semaphore -------------------------------------------------------------------------
void BM_semaphore_acquire_release(benchmark::State& state) {
    cotrait::async_semaphore sem(4);
    on_loop(state, [&sem](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            auto p = co_await sem.scoped_acquire();
            benchmark::DoNotOptimize(&p);
        }
    });
}

// ---- async_event -----------------------------------------------------------------------------
void BM_event_set_then_wait(benchmark::State& state) {
    cotrait::async_event ev(cotrait::reset_mode::automatic);
    on_loop(state, [&ev](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            ev.set();
            co_await ev.wait();
        }
    });
}

// A waiter suspended on the event, resumed inline by set(), re-waits: one suspend + resume.
void BM_event_wake_suspended_waiter(benchmark::State& state) {
    cotrait::async_event ev(cotrait::reset_mode::automatic);
    cotrait::async_scope scope;
    long woken = 0;
    bool stop = false;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        while (true) {
            co_await ev.wait();
            if (stop) {
                co_return;
            }
            ++woken;
        }
    });
    for (auto _ : state) {
        ev.set();
    }
    stop = true;
    ev.set();
    cotrait::sync_wait(scope.join());
    benchmark::DoNotOptimize(woken);
}

// ---- channel ---------------------------------------------------------------------------------
void BM_channel_send_receive_buffered(benchmark::State& state) {
    cotrait::channel<int> ch(64);
    on_loop(state, [&ch](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        int i = 0;
        for (auto _ : s) {
            co_await ch.send(i++);
            benchmark::DoNotOptimize(co_await ch.receive());
        }
    });
    state.SetLabel("per value: one send + one receive");
}

// A consumer coroutine parked on receive(): each send hands the value over and resumes it.
void BM_channel_send_to_waiting_receiver(benchmark::State& state) {
    cotrait::channel<int> ch(1);
    cotrait::async_scope scope;
    long sum = 0;
    scope.spawn([&]() -> cotrait::boxed_task<> {
        while (std::optional<int> v = co_await ch.receive()) {
            sum += *v;
        }
    });
    cotrait::sync_wait([&]() -> cotrait::boxed_task<> {
        int i = 0;
        for (auto _ : state) {
            co_await ch.send(i++);
        }
    }());
    ch.close();
    cotrait::sync_wait(scope.join());
    benchmark::DoNotOptimize(sum);
}

// ---- when_any / when_all ---------------------------------------------------------------------
void BM_when_all_two_immediate(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await cotrait::when_all(immediate(1), immediate(2)));
        }
    });
}

void BM_when_any_two_immediate(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await cotrait::when_any(immediate(1), immediate(2)));
        }
    });
}

void BM_when_any_two_immediate_with_stop_source(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            std::stop_source stop;
            benchmark::DoNotOptimize(co_await cotrait::when_any(stop, immediate(1), immediate(2)));
        }
    });
}

// ---- timers ----------------------------------------------------------------------------------
void BM_baseline_run_loop_schedule(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            co_await loop.schedule();
        }
    });
}

// Deadline already passed: no timer thread, one trip through the executor.
void BM_sleep_for_zero_run_loop(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            co_await cotrait::sleep_for(loop, 0ns);
        }
    });
}

// A real timer: registration, the timer thread's wake-up and the hand-back (wall clock).
void BM_sleep_for_1us_run_loop(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            co_await cotrait::sleep_for(loop, 1us);
        }
    });
}

// The operation wins after one hop: the timer is registered, then cancelled.
void BM_with_timeout_operation_wins(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        auto op = [&loop]() -> cotrait::boxed_task<int> {
            co_await loop.schedule();
            co_return 1;
        };
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await cotrait::with_timeout(loop, 1h, op()));
        }
    });
    state.SetLabel("includes the operation's own run_loop schedule");
}

void BM_baseline_task_with_one_schedule(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        auto op = [&loop]() -> cotrait::boxed_task<int> {
            co_await loop.schedule();
            co_return 1;
        };
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await op());
        }
    });
}

// ---- resume_on -------------------------------------------------------------------------------
void BM_resume_on_already_there(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await cotrait::resume_on(loop, immediate(1)));
        }
    });
    state.SetLabel("wrapper frame, no hop");
}

void BM_resume_on_with_hop(benchmark::State& state) {
    on_loop(state, [](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        always_hop ex{&loop};
        for (auto _ : s) {
            benchmark::DoNotOptimize(co_await cotrait::resume_on(ex, immediate(1)));
        }
    });
    state.SetLabel("wrapper frame + one run_loop schedule");
}

// From a pool thread back to a run_loop, compared with staying on the pool (wall clock).
void BM_pool_work_then_back_to_loop(benchmark::State& state) {
    cotrait::thread_pool pool(1);
    const bool back = state.range(0) != 0;
    on_loop(state, [&](benchmark::State& s, cotrait::run_loop& loop) -> cotrait::boxed_task<> {
        auto work = [&pool]() -> cotrait::boxed_task<int> {
            co_await pool.schedule();
            co_return 1;
        };
        for (auto _ : s) {
            if (back) {
                benchmark::DoNotOptimize(co_await cotrait::resume_on(loop, work()));
            } else {
                benchmark::DoNotOptimize(co_await work());
                co_await loop.schedule(); // the caller's own way back, for comparison
            }
        }
    });
    state.SetLabel(back ? "resume_on(loop, work)" : "co_await work; co_await loop.schedule()");
}

// ---- spawn -----------------------------------------------------------------------------------
void BM_spawn_then_join(benchmark::State& state) {
    cotrait::async_scope scope;
    on_loop(state, [&](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            scope.spawn(immediate(1));
            co_await scope.join();
        }
    });
}

void BM_spawn_with_handle_then_await(benchmark::State& state) {
    cotrait::async_scope scope;
    on_loop(state, [&](benchmark::State& s, cotrait::run_loop&) -> cotrait::boxed_task<> {
        for (auto _ : s) {
            auto h = scope.spawn_with_handle(immediate(1));
            benchmark::DoNotOptimize(co_await h);
        }
        co_await scope.join();
    });
}

} // namespace

BENCHMARK(BM_baseline_await_immediate_task);
BENCHMARK(BM_mutex_scoped_lock_uncontended);
BENCHMARK(BM_mutex_handoff_two_coroutines);
BENCHMARK(BM_semaphore_acquire_release);
BENCHMARK(BM_event_set_then_wait);
BENCHMARK(BM_event_wake_suspended_waiter);
BENCHMARK(BM_channel_send_receive_buffered);
BENCHMARK(BM_channel_send_to_waiting_receiver);
BENCHMARK(BM_when_all_two_immediate);
BENCHMARK(BM_when_any_two_immediate);
BENCHMARK(BM_when_any_two_immediate_with_stop_source);
BENCHMARK(BM_baseline_run_loop_schedule);
BENCHMARK(BM_sleep_for_zero_run_loop);
BENCHMARK(BM_sleep_for_1us_run_loop)->UseRealTime();
BENCHMARK(BM_baseline_task_with_one_schedule);
BENCHMARK(BM_with_timeout_operation_wins);
BENCHMARK(BM_resume_on_already_there);
BENCHMARK(BM_resume_on_with_hop);
BENCHMARK(BM_pool_work_then_back_to_loop)->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_spawn_then_join);
BENCHMARK(BM_spawn_with_handle_then_await);

BENCHMARK_MAIN();
