// kv_server: a TCP key-value service over a virtual async storage interface, speaking RESP2 (the
// Redis protocol: redis-cli and redis-benchmark work against it).
//
//   kv_server                       self-test: serves on 127.0.0.1 (ephemeral port) from a file
//                                   store, runs 10,000 requests over 8 connections and the
//                                   malformed-request checks, stops, reopens the file and checks
//                                   that the data came back; exit status 0 if everything held
//   kv_server --serve [OPTIONS]     serves on 127.0.0.1 until SIGINT or SIGTERM:
//     --port N                      0..65535 (default 0: ephemeral, printed)
//     --file PATH                   a file store at PATH (default: in memory)
//     --sync none|batch|always      when a write is durable (default batch; docs/execution.md)
//     --repair                      open a log with a corrupt record by keeping its valid prefix
//     --idle-timeout SECONDS        close connections idle this long (default 300; 0: never)
//     --max-reply-bytes N           queued reply bytes per connection (default 65536)
//     --compact-min-bytes N         compact the log from this size when mostly dead (default 4 MiB)
//     --threads N                   I/O threads, connections spread over them (default 1)
//     --storage virtual|static      call the store through kv::storage or directly (default
//     virtual)
//     --request-timeout MS          answer -ERR timeout past this (default 0: no deadline)
//     --max-connections N           connections served at once; more wait (default 10000)
//     --stats                       count every storage call (cotrait::instrumented) and print
//                                   the per-method table at shutdown
#include "kv_client.hpp"
#include "kv_server.hpp"
#include "kv_storage.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/instrumented.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

struct serve_config {
    unsigned short port = 0;
    std::string file;
    unsigned threads = 1;
    bool static_storage = false;
    kv::file_options store;
    kv::server_options server;
    bool stats = false;
};

// Runs the server on `threads` io_contexts (this thread runs the first, which also accepts).
template <class Store>
int serve_with(Store& store, serve_config& cfg) {
    std::vector<std::unique_ptr<asio::io_context>> owned;
    std::vector<asio::io_context*> ctxs;
    for (unsigned i = 0; i < cfg.threads; ++i) {
        owned.push_back(std::make_unique<asio::io_context>(1)); // one thread each: no locking
        ctxs.push_back(owned.back().get());
    }
    asio::io_context& ctx = *ctxs.front();
    kv::server<Store> srv(ctxs, store,
                          asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), cfg.port),
                          std::move(cfg.server));
    std::printf("kv_server: listening on %s:%u\n", srv.endpoint().address().to_string().c_str(),
                static_cast<unsigned>(srv.endpoint().port()));
    std::fflush(stdout);
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](const asio::error_code&, int) { srv.stop(); });
    using guard = asio::executor_work_guard<asio::io_context::executor_type>;
    std::vector<guard> keep; // the other threads idle between connections
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < ctxs.size(); ++i) {
        keep.emplace_back(ctxs[i]->get_executor());
        threads.emplace_back([c = ctxs[i]] { c->run(); });
    }
    cotrait::async_scope scope;
    cotrait::spawn_on(scope, ctx.get_executor(), srv.run());
    ctx.run();
    cotrait::sync_wait(scope.join()); // every connection has ended
    keep.clear();
    for (std::thread& t : threads) {
        t.join();
    }
    std::printf("kv_server: stopped after %zu requests (%zu errors)\n", srv.requests(),
                srv.errors());
    return 0;
}

template <class Impl>
int serve_store(Impl& impl, serve_config& cfg) {
    if (cfg.static_storage) {
        return serve_with(impl, cfg);
    }
    cotrait::adapter<kv::storage, Impl&> virt(impl);
    kv::storage& store = virt;
    if (cfg.stats) {
        // --stats: the server talks to the storage through the instrumentation decorator.
        cotrait::instrumented<kv::storage> stats(store);
        kv::storage& counted = stats;
        const int rc = serve_with(counted, cfg);
        std::fflush(stdout);
        stats.cotrait_report(std::cout);
        std::cout.flush();
        return rc;
    }
    return serve_with(store, cfg);
}

int serve(serve_config cfg) {
    // A file-size limit (RLIMIT_FSIZE) must fail the write with EFBIG, not kill the server.
    std::signal(SIGXFSZ, SIG_IGN);
    if (cfg.file.empty()) {
        kv::memory_store mem;
        return serve_store(mem, cfg);
    }
    const bool batch = cfg.store.sync == kv::sync_mode::batch;
    kv::file_store fil(cfg.file, std::move(cfg.store));
    const int rc = serve_store(fil, cfg);
    if (batch) {
        std::printf("kv_server: %zu group commits (fdatasync)\n", fil.group_commits());
    }
    return rc;
}

// Starts a server on its own io_context thread, runs the load and the checks against it from
// another io_context (this thread), stops the server. Returns the number of failures.
template <class Store>
std::size_t exercise(Store& store, const char* label) {
    asio::io_context server_ctx;
    kv::server<Store> srv(server_ctx, store);
    cotrait::async_scope server_scope;
    cotrait::spawn_on(server_scope, server_ctx.get_executor(), srv.run());
    std::thread server_thread([&] { server_ctx.run(); });

    asio::io_context client_ctx;
    const auto start = std::chrono::steady_clock::now();
    kv::load_report load =
        cotrait::run_on(client_ctx, kv::run_load(client_ctx, srv.endpoint(), 10'000, 8));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    std::string log;
    std::size_t failures = cotrait::run_on(
        client_ctx, kv::check_malformed(client_ctx, srv.endpoint(), load.expected, log));
    srv.stop();
    cotrait::sync_wait(server_scope.join());
    server_thread.join();

    const double us = std::chrono::duration<double, std::micro>(elapsed).count();
    std::printf("%-28s %zu requests over 8 connections in %.1f ms (%.2f us/request), "
                "%zu mismatches; malformed checks: %zu failures; server answered %zu requests, "
                "%zu errors\n",
                label, load.requests, us / 1000.0, us / static_cast<double>(load.requests),
                load.mismatches, failures, srv.requests(), srv.errors());
    if (load.mismatches != 0) {
        std::printf("  first mismatch: %s\n", load.first_mismatch.c_str());
    }
    std::fputs(log.c_str(), stdout);
    if (load.requests != 10'000) {
        ++failures;
    }
    return failures + load.mismatches;
}

int self_test() {
    std::size_t failures = 0;
    {
        kv::memory_store mem;
        cotrait::adapter<kv::storage, kv::memory_store&> virt(mem);
        kv::storage& store = virt;
        failures += exercise(store, "memory store (virtual):");
    }
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() /
        ("cotrait_kv_server_" + std::to_string(static_cast<long>(::getpid())) + ".log");
    std::filesystem::remove(path);
    std::map<std::string, std::string> before;
    {
        kv::file_store file(path.string());
        cotrait::adapter<kv::storage, kv::file_store&> virt(file);
        kv::storage& store = virt;
        failures += exercise(store, "file store (virtual):");
        before = file.snapshot();
    }
    {
        kv::file_store reopened(path.string());
        const bool same = reopened.snapshot() == before;
        std::printf("file store reopened: %zu keys, %s\n", before.size(),
                    same ? "identical" : "DIFFERENT");
        failures += same ? 0 : 1;
    }
    std::filesystem::remove(path);
    std::printf("kv_server self-test: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}

constexpr const char* usage =
    "usage: kv_server [--serve [--port 0..65535] [--file PATH] [--sync none|batch|always]\n"
    "                          [--repair] [--idle-timeout SECONDS] [--max-reply-bytes N]\n"
    "                          [--compact-min-bytes N] [--threads 1..64]\n"
    "                          [--storage virtual|static] [--request-timeout MS]\n"
    "                          [--max-connections N] [--stats]]\n";

int usage_error(const std::string& why) {
    std::fprintf(stderr, "kv_server: %s\n%s", why.c_str(), usage);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 1) {
            return self_test();
        }
        serve_config cfg;
        cfg.store.sync = kv::sync_mode::batch;
        bool serve_mode = false;
        for (int i = 1; i < argc; ++i) {
            const std::string_view a = argv[i];
            const bool has_value = i + 1 < argc;
            auto number = [&](unsigned long lo, unsigned long hi) {
                const std::optional<unsigned long> v = kv::parse_number(argv[++i], lo, hi);
                if (!v) {
                    throw std::invalid_argument(std::string(a) + " needs a number in " +
                                                std::to_string(lo) + ".." + std::to_string(hi) +
                                                ", got '" + argv[i] + "'");
                }
                return *v;
            };
            if (a == "--serve") {
                serve_mode = true;
            } else if (a == "--stats") {
                cfg.stats = true;
            } else if (a == "--repair") {
                cfg.store.repair = true;
            } else if (a == "--port" && has_value) {
                cfg.port = static_cast<unsigned short>(number(0, 65535));
            } else if (a == "--file" && has_value) {
                cfg.file = argv[++i];
            } else if (a == "--sync" && has_value) {
                const std::optional<kv::sync_mode> m = kv::parse_sync_mode(argv[++i]);
                if (!m) {
                    return usage_error(std::string("--sync needs none, batch or always, got '") +
                                       argv[i] + "'");
                }
                cfg.store.sync = *m;
            } else if (a == "--idle-timeout" && has_value) {
                cfg.server.idle_timeout = std::chrono::seconds(number(0, 86'400));
            } else if (a == "--max-reply-bytes" && has_value) {
                cfg.server.max_reply_bytes = number(1, std::size_t{1} << 30);
            } else if (a == "--compact-min-bytes" && has_value) {
                cfg.store.compact_min_bytes = number(0, std::uint64_t{1} << 40);
            } else if (a == "--threads" && has_value) {
                cfg.threads = static_cast<unsigned>(number(1, 64));
            } else if (a == "--storage" && has_value) {
                const std::string_view v = argv[++i];
                if (v != "virtual" && v != "static") {
                    return usage_error("--storage needs virtual or static, got '" + std::string(v) +
                                       "'");
                }
                cfg.static_storage = v == "static";
            } else if (a == "--request-timeout" && has_value) {
                cfg.server.request_timeout = std::chrono::milliseconds(number(0, 3'600'000));
            } else if (a == "--max-connections" && has_value) {
                cfg.server.max_connections = number(1, 1'000'000);
            } else {
                return usage_error("unexpected argument '" + std::string(a) + "'");
            }
        }
        if (!serve_mode) {
            return usage_error("options need --serve");
        }
        if (cfg.stats && cfg.static_storage) {
            return usage_error("--stats counts the calls through the virtual storage: it does not "
                               "go with --storage static");
        }
        return serve(std::move(cfg));
    } catch (const std::invalid_argument& e) {
        return usage_error(e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kv_server: %s\n", e.what());
        return 1;
    }
}
