// cotrait::instrumented: which method of a service is called how often, fails, takes how long and
// allocates what, read from a decorator around the service's interface, from several threads.
#include <cotrait/instrumented.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/static_task.hpp>
#include <cotrait/sync_wait.hpp>
#include <cotrait/thread_pool.hpp>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// clang-format off
ASYNC_INTERFACE(Accounts,
    (balance, (long), ((int) id) const),
    (deposit, (void), ((int) id, (long) amount)),
    (audit,   (std::string), () const));
// clang-format on

// A static implementation: an in-memory ledger behind a mutex; deposits run on a pool thread.
class Ledger {
public:
    explicit Ledger(cotrait::thread_pool& pool) : pool_(&pool) {}

    cotrait::static_task<long> balance(int id) const {
        std::lock_guard lock(m_);
        const auto it = accounts_.find(id);
        if (it == accounts_.end()) {
            throw std::out_of_range("no account " + std::to_string(id));
        }
        co_return it->second;
    }
    cotrait::static_task<void> deposit(int id, long amount) {
        co_await pool_->schedule(); // the write happens on the pool
        std::lock_guard lock(m_);
        accounts_[id] += amount;
    }
    cotrait::static_task<std::string> audit() const {
        std::lock_guard lock(m_);
        co_return std::to_string(accounts_.size()) + " accounts";
    }

private:
    cotrait::thread_pool* pool_;
    mutable std::mutex m_;
    std::map<int, long> accounts_;
};

int main() {
    cotrait::thread_pool pool(2);
    cotrait::adapter<Accounts, Ledger> ledger(std::in_place, pool);
    // The decorator forwards to the ledger and counts; the code under it sees an Accounts&.
    cotrait::instrumented<Accounts> stats(ledger);
    Accounts& accounts = stats;

    std::atomic<int> missing{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 3; ++t) {
        clients.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                cotrait::sync_wait(accounts.deposit(i % 10, 5));
                try {
                    (void)cotrait::sync_wait(accounts.balance(i % 12 + t)); // ids 10+ are missing
                } catch (const std::out_of_range&) {
                    ++missing;
                }
            }
        });
    }
    for (auto& c : clients) {
        c.join();
    }
    std::cout << cotrait::sync_wait(accounts.audit()) << ", " << missing.load()
              << " lookups of missing accounts\n\n";
    stats.cotrait_report(std::cout);

    // The table's counts are exact: 300 deposits, 300 lookups of which `missing` failed.
    const auto rows = stats.cotrait_stats();
    return rows[0].calls == 300 && rows[0].failures == static_cast<unsigned>(missing.load()) &&
                   rows[1].calls == 300 && rows[2].calls == 1
               ? 0
               : 1;
}
