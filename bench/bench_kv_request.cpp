// The key-value service's request path with the storage called through the virtual interface
// (kv::storage&, each call a boxed_task from a virtual function) vs through the static path (the
// implementation's static_task methods called directly), both in process (parse + storage call +
// reply, no I/O) and over a loopback TCP round trip. Prints the boxing share of each pair:
// (virtual - static) / virtual.
#include "kv_client.hpp"
#include "kv_protocol.hpp"
#include "kv_server.hpp"
#include "kv_storage.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/boxed_task.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// The request mix: reads and writes of a few keys, and a miss (as parsed RESP arguments).
const std::array<std::array<std::string_view, 3>, 4> request_mix = {{{"SET", "user:1", "alice"},
                                                                     {"GET", "user:1", ""},
                                                                     {"SET", "user:2", "bob"},
                                                                     {"GET", "user:3", ""}}};

std::span<const std::string_view> args_of(const std::array<std::string_view, 3>& r) {
    return std::span<const std::string_view>(r.data(), r[0] == "SET" ? 3 : 2);
}

template <class Store>
cotrait::boxed_task<> inproc_loop(benchmark::State& state, Store& store) {
    std::string out;
    std::size_t i = 0;
    for (auto _ : state) {
        co_await kv::handle_request(store, args_of(request_mix[i++ % request_mix.size()]), out);
        benchmark::DoNotOptimize(out.data());
        out.clear();
    }
}

// The virtual interface, with the dynamic type hidden from the optimiser so that every call is
// a real virtual call (the compiler cannot devirtualize through the opaque pointer).
template <class F>
void through_interface(kv::memory_store& mem, F&& run) {
    cotrait::adapter<kv::storage, kv::memory_store&> virt(mem);
    kv::storage* store = &virt;
    benchmark::DoNotOptimize(store);
    run(*store);
}

void BM_request_inproc_virtual(benchmark::State& state) {
    kv::memory_store mem;
    through_interface(mem,
                      [&](kv::storage& store) { cotrait::sync_wait(inproc_loop(state, store)); });
}

void BM_request_inproc_static(benchmark::State& state) {
    kv::memory_store mem;
    cotrait::sync_wait(inproc_loop(state, mem));
}

// A server on its own thread; the benchmark thread is a blocking client doing one request per
// round trip.
template <class Store>
void tcp_round_trips(benchmark::State& state, Store& store) {
    asio::io_context server_ctx;
    kv::server<Store> srv(server_ctx, store);
    cotrait::async_scope scope;
    cotrait::spawn_on(scope, server_ctx.get_executor(), srv.run());
    std::thread server_thread([&] { server_ctx.run(); });
    {
        asio::io_context client_ctx;
        asio::ip::tcp::socket sock(client_ctx);
        sock.connect(srv.endpoint());
        sock.set_option(asio::ip::tcp::no_delay(true));
        std::string reply;
        std::size_t i = 0;
        std::array<std::string, request_mix.size()> frames;
        for (std::size_t k = 0; k < frames.size(); ++k) {
            frames[k] = kv::encode_request(args_of(request_mix[k]));
        }
        std::array<char, 4096> chunk{};
        for (auto _ : state) {
            asio::write(sock, asio::buffer(frames[i++ % frames.size()]));
            std::size_t n = 0;
            while ((n = kv::reply_size(reply)) == 0) {
                reply.append(chunk.data(), sock.read_some(asio::buffer(chunk)));
            }
            reply.erase(0, n);
        }
        sock.close();
    }
    srv.stop();
    cotrait::sync_wait(scope.join());
    server_thread.join();
}

void BM_request_tcp_virtual(benchmark::State& state) {
    kv::memory_store mem;
    through_interface(mem, [&](kv::storage& store) { tcp_round_trips(state, store); });
}

void BM_request_tcp_static(benchmark::State& state) {
    kv::memory_store mem;
    tcp_round_trips(state, mem);
}

// Pairs are registered next to each other so that they run under the same machine conditions.
BENCHMARK(BM_request_inproc_virtual);
BENCHMARK(BM_request_inproc_static);
BENCHMARK(BM_request_tcp_virtual)->UseRealTime();
BENCHMARK(BM_request_tcp_static)->UseRealTime();

// Remembers each benchmark's time per request (ns) for the boxing-share summary: the median when
// the run has repetitions, else the (last) measurement.
class summary_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            const std::string name = r.run_name.str();
            // The TCP pairs use wall time (they wait for the server thread, which this thread's
            // CPU time ignores); the in-process pairs CPU time, which a loaded machine disturbs
            // less.
            const bool wall = name.ends_with("/real_time");
            if (r.run_type == Run::RT_Iteration && r.iterations > 0) {
                const double seconds = wall ? r.real_accumulated_time : r.cpu_accumulated_time;
                last_[name] = seconds * 1e9 / static_cast<double>(r.iterations);
            } else if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
                // Aggregates carry the per-iteration time in the benchmark's time unit.
                const double t = wall ? r.GetAdjustedRealTime() : r.GetAdjustedCPUTime();
                median_[name] = t * 1e9 / benchmark::GetTimeUnitMultiplier(r.time_unit);
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }

    [[nodiscard]] const double* ns_per_request(const std::string& name) const {
        if (auto it = median_.find(name); it != median_.end()) {
            return &it->second;
        }
        if (auto it = last_.find(name); it != last_.end()) {
            return &it->second;
        }
        return nullptr;
    }

private:
    std::map<std::string, double> last_;
    std::map<std::string, double> median_;
};

void print_share(const summary_reporter& rep, const char* label, const std::string& virt,
                 const std::string& stat) {
    const double* v = rep.ns_per_request(virt);
    const double* s = rep.ns_per_request(stat);
    if (v == nullptr || s == nullptr) {
        return; // filtered out
    }
    std::printf(
        "%-28s virtual %10.1f ns/request, static %10.1f ns/request, boxing share %+6.2f%%\n", label,
        *v, *s, 100.0 * (*v - *s) / *v);
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    summary_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    std::printf("\nkv request path, storage through the virtual interface vs the static path\n");
    print_share(reporter, "in process (no I/O):", "BM_request_inproc_virtual",
                "BM_request_inproc_static");
    print_share(reporter, "loopback TCP round trip:", "BM_request_tcp_virtual/real_time",
                "BM_request_tcp_static/real_time");
    benchmark::Shutdown();
    return 0;
}
