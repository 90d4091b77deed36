// The kv service's RESP2 protocol (examples/kv_server/kv_protocol.hpp): framing (fragmentation
// at every byte boundary, binary-safe bulk strings, limits, malformed frames), every command on
// the static and the virtual path, pipelining and QUIT over loopback, and, when redis-tools is
// installed, redis-cli and redis-benchmark against the server.
#include "kv_child.hpp"
#include "kv_client.hpp"
#include "kv_protocol.hpp"
#include "kv_running.hpp"
#include "kv_server.hpp"
#include "kv_storage.hpp"

#include <cotrait/asio.hpp>
#include <cotrait/async_scope.hpp>
#include <cotrait/interface.hpp>
#include <cotrait/sync_wait.hpp>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::string_literals;

namespace {

using args_t = std::vector<std::string>;

// Parses every complete request in `buf` (as the server does), appending them to `got`; returns
// the bytes consumed, or npos on a framing error.
std::size_t parse_all(std::string_view buf, std::vector<args_t>& got) {
    std::vector<std::string_view> args;
    std::size_t at = 0;
    for (;;) {
        const kv::parse_result r = kv::parse_request(buf.substr(at), args);
        if (r.status == kv::parse_result::error) {
            return std::string_view::npos;
        }
        if (r.status == kv::parse_result::incomplete) {
            REQUIRE(r.need > buf.size() - at); // the hint never asks for bytes already there
            return at;
        }
        if (!args.empty()) {
            got.emplace_back(args.begin(), args.end());
        }
        at += r.consumed;
    }
}

std::string_view parse_error(std::string_view buf) {
    std::vector<std::string_view> args;
    const kv::parse_result r = kv::parse_request(buf, args);
    return r.status == kv::parse_result::error ? r.why : "";
}

template <class Store>
std::string run(Store& store, const args_t& a, kv::after_request* next = nullptr) {
    std::vector<std::string_view> views(a.begin(), a.end());
    std::string out;
    const kv::after_request n = cotrait::sync_wait(kv::handle_request(store, views, out));
    if (next != nullptr) {
        *next = n;
    }
    return out;
}

template <class Store>
void every_command(Store& s) {
    CHECK(run(s, {"PING"}) == "+PONG\r\n");
    CHECK(run(s, {"ping", "hi"}) == "$2\r\nhi\r\n");
    CHECK(run(s, {"ECHO", "x\r\ny"}) == "$4\r\nx\r\ny\r\n");
    CHECK(run(s, {"GET", "a"}) == "$-1\r\n");
    CHECK(run(s, {"SET", "a", "1"}) == "+OK\r\n");
    CHECK(run(s, {"get", "a"}) == "$1\r\n1\r\n");
    const std::string bin = "\0\r\n\xff"s;
    CHECK(run(s, {"SET", bin, bin}) == "+OK\r\n");
    CHECK(run(s, {"GET", bin}) == "$4\r\n" + bin + "\r\n");
    CHECK(run(s, {"SET", "", "empty key"}) == "+OK\r\n");
    CHECK(run(s, {"SET", "a", "1", "EX", "10"}).rfind("-ERR syntax error", 0) == 0);
    CHECK(run(s, {"MSET", "b", "2", "c", "3"}) == "+OK\r\n");
    CHECK(run(s, {"MGET", "a", "zz", "c"}) == "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n");
    CHECK(run(s, {"EXISTS", "a", "a", "zz"}) == ":2\r\n");
    CHECK(run(s, {"DBSIZE"}) == ":5\r\n");
    CHECK(run(s, {"DEL", "a", "b", "zz"}) == ":2\r\n");
    CHECK(run(s, {"DBSIZE"}) == ":3\r\n");
    CHECK(run(s, {"FLUSHDB"}) == "+OK\r\n");
    CHECK(run(s, {"DBSIZE"}) == ":0\r\n");
    CHECK(run(s, {"FLUSHDB", "ASYNC"}) == "+OK\r\n");
    CHECK(run(s, {"FLUSHDB", "NOW"}).rfind("-ERR", 0) == 0);
    CHECK(run(s, {"SELECT", "0"}) == "+OK\r\n");
    CHECK(run(s, {"SELECT", "1"}) == "-ERR DB index is out of range\r\n");
    CHECK(run(s, {"CONFIG", "GET", "save"}) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    CHECK(run(s, {"CONFIG", "GET", "appendonly"}) == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    CHECK(run(s, {"CONFIG", "GET", "maxmemory"}) == "*0\r\n");
    CHECK(run(s, {"COMMAND", "DOCS"}) == "*0\r\n");
    CHECK(run(s, {"CLIENT", "SETNAME", "x"}) == "+OK\r\n");
    CHECK(run(s, {"CLIENT", "KILL", "x"}).rfind("-ERR", 0) == 0);
    CHECK(run(s, {"INFO"}).rfind("$", 0) == 0);
    CHECK(run(s, {"NOPE", "x"}) == "-ERR unknown command 'NOPE'\r\n");
    for (const args_t& a : std::vector<args_t>{{"GET"},
                                               {"GET", "a", "b"},
                                               {"SET", "a"},
                                               {"DEL"},
                                               {"EXISTS"},
                                               {"MGET"},
                                               {"MSET", "a"},
                                               {"MSET", "a", "1", "b"},
                                               {"DBSIZE", "x"},
                                               {"PING", "a", "b"},
                                               {"ECHO"}}) {
        INFO(a[0] << " with " << a.size() - 1 << " arguments");
        CHECK(run(s, a).rfind("-ERR wrong number of arguments for '", 0) == 0);
    }
    const std::string long_key(kv::max_key + 1, 'k');
    CHECK(run(s, {"SET", long_key, "v"}).rfind("-ERR key too long", 0) == 0);
    CHECK(run(s, {"MSET", "ok", "v", long_key, "v"}).rfind("-ERR key too long", 0) == 0);
    CHECK(run(s, {"GET", "ok"}) == "$-1\r\n"); // MSET checks every key before writing any
    CHECK(run(s, {"SET", std::string(kv::max_key, 'k'), "v"}) == "+OK\r\n");
    kv::after_request next = kv::after_request::keep_open;
    CHECK(run(s, {"QUIT"}, &next) == "+OK\r\n");
    CHECK(next == kv::after_request::close);
}

} // namespace

TEST_CASE("RESP framing: arrays, inline commands, binary bulk strings") {
    std::vector<args_t> got;
    const std::string bin = "a\0b\r\nc"s;
    const std::string buf = kv::encode_request({"SET", "k", bin}) + "GET  k\r\n" + "\r\n" +
                            "*0\r\n" + "PING\n" + kv::encode_request({"GET", ""});
    REQUIRE(parse_all(buf, got) == buf.size());
    const std::vector<args_t> want = {{"SET", "k", bin}, {"GET", "k"}, {"PING"}, {"GET", ""}};
    CHECK(got == want);
}

TEST_CASE("RESP framing: a pipeline split at every byte boundary parses the same") {
    const std::string buf = kv::encode_request({"SET", "key", "v\r\n1"}) + "PING x\r\n" +
                            kv::encode_request({"MGET", "a", "bb", "ccc"}) +
                            kv::encode_request({"ECHO", std::string(300, 'e')});
    std::vector<args_t> whole;
    REQUIRE(parse_all(buf, whole) == buf.size());
    REQUIRE(whole.size() == 4);
    for (std::size_t cut = 0; cut <= buf.size(); ++cut) {
        INFO("split at byte " << cut);
        std::vector<args_t> got;
        const std::size_t first = parse_all(std::string_view(buf).substr(0, cut), got);
        REQUIRE(first != std::string_view::npos);
        REQUIRE(parse_all(std::string_view(buf).substr(first), got) == buf.size() - first);
        REQUIRE(got == whole);
    }
}

TEST_CASE("RESP framing: malformed frames and limits are errors, never unbounded buffering") {
    CHECK(parse_error("*abc\r\n") == "invalid multibulk length");
    CHECK(parse_error("*" + std::to_string(kv::max_args + 1) + "\r\n") ==
          "invalid multibulk length");
    CHECK(parse_error("*1\r\n+GET\r\n") == "expected '$'");
    CHECK(parse_error("*1\r\n$-1\r\n") == "invalid bulk length");
    CHECK(parse_error("*1\r\n$" + std::to_string(kv::max_value + 1) + "\r\n") ==
          "invalid bulk length");
    CHECK(parse_error("*1\r\n$3\r\nGETxx") == "bulk string not followed by CRLF");
    CHECK(parse_error("*1\r\n$1" + std::string(30, '1')) == "invalid bulk length");
    CHECK(parse_error(std::string(kv::max_inline + 1, 'x')) == "too big inline request");
    // Five maximal bulk strings exceed max_request: refused at the header that crosses it,
    // before their bytes are buffered.
    std::string big = "*5\r\n";
    for (int i = 0; i < 4; ++i) {
        big +=
            "$" + std::to_string(kv::max_value) + "\r\n" + std::string(kv::max_value, 'v') + "\r\n";
    }
    big += "$" + std::to_string(kv::max_value) + "\r\n";
    CHECK(parse_error(big) == "request too large");
    // A maximal value alone is fine.
    std::vector<args_t> got;
    const std::string ok = kv::encode_request({"SET", "k", std::string(kv::max_value, 'v')});
    CHECK(parse_all(ok, got) == ok.size());
}

TEST_CASE("RESP commands on the static path (memory and file store)") {
    kv::memory_store mem;
    every_command(mem);
    kvtest::temp_dir dir("resp_static");
    kv::file_store file((dir.path / "data.log").string());
    every_command(file);
}

TEST_CASE("RESP commands on the virtual path, and FLUSHDB persists in the file store") {
    kvtest::temp_dir dir("resp_virtual");
    const std::string path = (dir.path / "data.log").string();
    {
        kv::file_store file(path);
        cotrait::adapter<kv::storage, kv::file_store&> virt(file);
        kv::storage& s = virt;
        every_command(s);
        CHECK(run(s, {"FLUSHDB"}) == "+OK\r\n");
        CHECK(run(s, {"SET", "after", "flush"}) == "+OK\r\n");
    }
    kv::file_store reopened(path);
    CHECK(reopened.snapshot() == std::map<std::string, std::string>{{"after", "flush"}});
}

TEST_CASE("RESP over loopback: pipelining, the largest value, QUIT") {
    const unsigned threads = GENERATE(1U, 2U);
    INFO(threads << " I/O threads");
    kv::memory_store mem;
    kvtest::running_server<kv::memory_store> srv(mem, threads);
    for (int round = 0; round < 2; ++round) { // with two threads, one connection on each
        kvtest::conn c(srv.port());
        REQUIRE(c.connected());
        std::string burst;
        for (int i = 0; i < 1000; ++i) {
            burst += kv::encode_request({"PING", std::to_string(i)});
        }
        REQUIRE(c.send(burst)); // one write, many requests
        for (int i = 0; i < 1000; ++i) {
            REQUIRE(c.line() == std::to_string(i));
        }
        const std::string big(kv::max_value, 'v');
        REQUIRE(c.send(kv::encode_request({"SET", "big", big})));
        CHECK(c.line() == "OK");
        REQUIRE(c.send(kv::encode_request({"GET", "big"})));
        CHECK(c.line() == big);
        CHECK(c.request("QUIT") == "OK");
        CHECK(c.line() == std::nullopt); // closed by the server
    }
}

#ifndef KV_REDIS_CLI
#define KV_REDIS_CLI ""
#endif
#ifndef KV_REDIS_BENCHMARK
#define KV_REDIS_BENCHMARK ""
#endif

namespace {
// Runs a shell command (bounded by `timeout`), returns its exit status and stdout.
int shell(const std::string& cmd, std::string& out) {
    out.clear();
    std::FILE* p = ::popen(("timeout 120 " + cmd + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    const int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
} // namespace

TEST_CASE("redis-cli round trips against kv_server") {
    if (std::string_view(KV_REDIS_CLI).empty()) {
        SKIP("redis-cli not installed (Debian: redis-tools)");
    }
    const std::string threads = GENERATE("1", "2");
    INFO(threads << " I/O threads");
    kvtest::temp_dir dir("redis_cli");
    kvtest::child s({"--file", (dir.path / "data.log").string(), "--threads", threads},
                    dir.path / "server.log");
    REQUIRE(s.port() != 0);
    const std::string cli = std::string(KV_REDIS_CLI) + " -p " + std::to_string(s.port()) + " ";
    std::string out;
    CHECK(shell(cli + "SET a b", out) == 0);
    CHECK(out == "OK\n");
    CHECK(shell(cli + "GET a", out) == 0);
    CHECK(out == "b\n");
    CHECK(shell(cli + "MSET x 1 y 2", out) == 0);
    CHECK(shell(cli + "DBSIZE", out) == 0);
    CHECK(out == "3\n");
    CHECK(shell(cli + "DEL a x zz", out) == 0);
    CHECK(out == "2\n");
    CHECK(shell(cli + "GET a", out) == 0);
    CHECK(out == "\n"); // nil, as redis-cli prints it without a terminal
    CHECK(shell(cli + "SET a b EX 10", out) == 0);
    CHECK(out.find("ERR syntax error") != std::string::npos);
    CHECK(shell("printf 'PING\\nGET y\\n' | " + cli, out) == 0);
    CHECK(out == "PONG\n2\n");
    CHECK(s.stop() == 0);
}

TEST_CASE("redis-benchmark -t set,get against kv_server: no errors") {
    if (std::string_view(KV_REDIS_BENCHMARK).empty()) {
        SKIP("redis-benchmark not installed (Debian: redis-tools)");
    }
    const std::string threads = GENERATE("1", "2");
    INFO(threads << " I/O threads");
    kvtest::temp_dir dir("redis_benchmark");
    kvtest::child s({"--threads", threads}, dir.path / "server.log");
    REQUIRE(s.port() != 0);
    std::string out;
    const int rc = shell(std::string(KV_REDIS_BENCHMARK) + " -p " + std::to_string(s.port()) +
                             " -t set,get -n 20000 -q",
                         out);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("SET: ") != std::string::npos);
    CHECK(out.find("GET: ") != std::string::npos);
    CHECK(out.find("requests per second") != std::string::npos);
    CHECK(out.find("ERR") == std::string::npos);
    CHECK(out.find("WARNING") == std::string::npos);
    kvtest::conn c(s.port());
    CHECK(c.request("DBSIZE") == "(integer) 1"); // redis-benchmark's one key
    CHECK(s.stop() == 0);
    CHECK(s.log().find("(0 errors)") != std::string::npos);
}
