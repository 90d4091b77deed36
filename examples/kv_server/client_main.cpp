// kv_client: talks to a kv_server on 127.0.0.1.
//
//   PORT is 1..65535.
//
//   kv_client PORT REQUEST...        sends each REQUEST (e.g. "SET a 1" "GET a": words separated
//                                    by spaces) as a RESP command and prints the replies as
//                                    redis-cli does
//   kv_client PORT --load N C        runs N checked requests over C connections and reports
#include "kv_client.hpp"

#include <cotrait/asio.hpp>

#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

cotrait::boxed_task<int> send_all(asio::io_context& ctx, asio::ip::tcp::endpoint ep, int argc,
                                  char** argv) {
    kv::client c(ctx);
    co_await c.connect(ep);
    for (int i = 2; i < argc; ++i) {
        std::vector<std::string> args;
        const std::string_view req = argv[i];
        for (std::size_t at = 0; at < req.size();) {
            const std::size_t sp = std::min(req.find(' ', at), req.size());
            if (sp > at) {
                args.emplace_back(req.substr(at, sp - at));
            }
            at = sp + 1;
        }
        if (args.empty()) {
            continue;
        }
        const std::string reply = kv::render_reply(co_await c.request(std::move(args)));
        std::printf("%s\n", reply.c_str());
    }
    c.close();
    co_return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: kv_client PORT REQUEST... | kv_client PORT --load N C\n");
        return 2;
    }
    const std::optional<unsigned long> port = kv::parse_number(argv[1], 1, 65535);
    if (!port) {
        std::fprintf(stderr, "kv_client: PORT must be a number in 1..65535, got '%s'\n", argv[1]);
        return 2;
    }
    try {
        asio::io_context ctx;
        const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"),
                                         static_cast<unsigned short>(*port));
        if (std::string_view(argv[2]) == "--load" && argc == 5) {
            const std::optional<unsigned long> n = kv::parse_number(argv[3], 0, 10'000'000);
            const std::optional<unsigned long> conns = kv::parse_number(argv[4], 1, 64);
            if (!n || !conns) {
                std::fprintf(stderr, "kv_client: 1..64 connections, at most 10^7 requests\n");
                return 2;
            }
            const auto start = std::chrono::steady_clock::now();
            const kv::load_report r =
                cotrait::run_on(ctx, kv::run_load(ctx, ep, *n, static_cast<int>(*conns)));
            const double ms =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            std::printf("%zu requests, %zu mismatches, %.1f ms\n", r.requests, r.mismatches, ms);
            return r.mismatches == 0 ? 0 : 1;
        }
        return cotrait::run_on(ctx, send_all(ctx, ep, argc, argv));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kv_client: %s\n", e.what());
        return 1;
    }
}
