// Test support: a kv::server in this process on one or more I/O threads, stopped and joined by
// the destructor.
#pragma once

#include "kv_server.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/sync_wait.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace kvtest {

/// Serves `store` on `threads` io_contexts, each run by a thread of its own.
template <class Store>
class running_server {
public:
    running_server(Store& store, unsigned threads, kv::server_options opt = {}) {
        for (unsigned i = 0; i < threads; ++i) {
            owned_.push_back(std::make_unique<asio::io_context>(1));
            ctxs_.push_back(owned_.back().get());
            keep_.emplace_back(ctxs_.back()->get_executor());
        }
        srv_ = std::make_unique<kv::server<Store>>(
            ctxs_, store, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0),
            std::move(opt));
        cotrait::spawn_on(scope_, ctxs_.front()->get_executor(), srv_->run());
        for (asio::io_context* c : ctxs_) {
            threads_.emplace_back([c] { c->run(); });
        }
    }
    ~running_server() { stop(); }
    running_server(const running_server&) = delete;
    running_server& operator=(const running_server&) = delete;

    kv::server<Store>& operator*() { return *srv_; }
    kv::server<Store>* operator->() { return srv_.get(); }
    [[nodiscard]] unsigned short port() const { return srv_->endpoint().port(); }

    /// Stops the server and waits until every connection and thread has ended.
    void stop() {
        if (threads_.empty()) {
            return;
        }
        srv_->stop();
        cotrait::sync_wait(scope_.join());
        keep_.clear();
        for (std::thread& t : threads_) {
            t.join();
        }
        threads_.clear();
    }

private:
    std::vector<std::unique_ptr<asio::io_context>> owned_;
    std::vector<asio::io_context*> ctxs_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_;
    std::unique_ptr<kv::server<Store>> srv_;
    cotrait::async_scope scope_;
    std::vector<std::thread> threads_;
};

} // namespace kvtest
