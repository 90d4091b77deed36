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

#include <unistd.h>

namespace {

struct serve_config {
    unsigned short port = 0;
    std::string file;
    kv::file_options store;
    kv::server_options server;
    bool stats = false;
};

int serve(serve_config cfg) {
    // A file-size limit (RLIMIT_FSIZE) must fail the write with EFBIG, not kill the server.
    std::signal(SIGXFSZ, SIG_IGN);
    std::unique_ptr<kv::memory_store> mem;
    std::unique_ptr<kv::file_store> fil;
    std::unique_ptr<kv::storage> store;
    if (cfg.file.empty()) {
        mem = std::make_unique<kv::memory_store>();
        store = std::make_unique<cotrait::adapter<kv::storage, kv::memory_store&>>(*mem);
    } else {
        fil = std::make_unique<kv::file_store>(cfg.file, std::move(cfg.store));
        store = std::make_unique<cotrait::adapter<kv::storage, kv::file_store&>>(*fil);
    }
    // --stats: the server talks to the storage through the instrumentation decorator.
    using instrumented_storage = cotrait::instrumented<kv::storage, std::unique_ptr<kv::storage>>;
    const instrumented_storage* stats = nullptr;
    if (cfg.stats) {
        auto wrapped = std::make_unique<instrumented_storage>(std::move(store));
        stats = wrapped.get();
        store = std::move(wrapped);
    }
    asio::io_context ctx;
    kv::server<kv::storage> srv(
        ctx, *store, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), cfg.port),
        std::move(cfg.server));
    std::printf("kv_server: listening on %s:%u\n", srv.endpoint().address().to_string().c_str(),
                static_cast<unsigned>(srv.endpoint().port()));
    std::fflush(stdout);
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](const asio::error_code&, int) { srv.stop(); });
    cotrait::async_scope scope;
    cotrait::spawn_on(scope, ctx.get_executor(), srv.run());
    ctx.run();
    cotrait::sync_wait(scope.join());
    std::printf("kv_server: stopped after %zu requests (%zu errors)\n", srv.requests(),
                srv.errors());
    if (stats != nullptr) {
        std::fflush(stdout);
        stats->cotrait_report(std::cout);
        std::cout.flush();
    }
    return 0;
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
    "                          [--compact-min-bytes N] [--stats]]\n";

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
            } else {
                return usage_error("unexpected argument '" + std::string(a) + "'");
            }
        }
        if (!serve_mode) {
            return usage_error("options need --serve");
        }
        return serve(std::move(cfg));
    } catch (const std::invalid_argument& e) {
        return usage_error(e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kv_server: %s\n", e.what());
        return 1;
    }
}
