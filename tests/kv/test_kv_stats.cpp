// kv_server --stats: the storage is wrapped in cotrait::instrumented and its per-method table is
// printed at shutdown, with exact call counts.
#include "kv_child.hpp"

#include <catch2/catch_test_macros.hpp>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace kvtest;

TEST_CASE("kv_server --stats prints the storage calls per method at shutdown") {
    temp_dir dir("stats");
    child server({"--stats"}, dir.path / "log");
    REQUIRE(server.port() != 0);
    {
        conn c(server.port());
        REQUIRE(c.connected());
        CHECK(c.request("SET a 1") == "OK");                       // set 1
        CHECK(c.request("SET b 2") == "OK");                       // set 2
        CHECK(c.request("MSET c 3 d 4") == "OK");                  // set 3, 4
        CHECK(c.request("GET a") == "1");                          // get 1
        CHECK(c.request("GET nope") == "(nil)");                   // get 2
        CHECK(c.request("EXISTS a b nope") == "(integer) 2");      // get 3, 4, 5
        CHECK(c.request("DEL a nope") == "(integer) 1");           // erase 1, 2
        CHECK(c.request("DBSIZE") == "(integer) 3");               // size 1
        CHECK(c.request("PING") == "PONG");                        // no storage call
        const std::optional<std::string> arity = c.request("GET"); // no storage call
        REQUIRE(arity.has_value());
        CHECK(arity->rfind("(error)", 0) == 0);
    }
    REQUIRE(server.stop() == 0);
    const std::string log = server.log();
    INFO(log);
    // method -> the table's cells after the name: calls, failures, in-flight, ...
    std::map<std::string, std::vector<std::string>> rows;
    std::istringstream lines(log.substr(log.find("method ")));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string name;
        words >> name;
        std::vector<std::string> cells;
        for (std::string w; words >> w;) {
            cells.push_back(w);
        }
        rows[name] = cells;
    }
    REQUIRE(rows.count("method") == 1);
    CHECK(rows["method"] == std::vector<std::string>{"calls", "failures", "in-flight", "p50", "p99",
                                                     "max", "frames/call", "bytes/call"});
    const std::map<std::string, std::string> calls = {{"storage::get", "5"},
                                                      {"storage::set", "4"},
                                                      {"storage::erase", "2"},
                                                      {"storage::size", "1"},
                                                      {"storage::clear", "0"}};
    for (const auto& [method, n] : calls) {
        INFO(method);
        REQUIRE(rows.count(method) == 1);
        REQUIRE(rows[method].size() == 8);
        CHECK(rows[method][0] == n);
        CHECK(rows[method][1] == "0"); // failures
        CHECK(rows[method][2] == "0"); // in flight after shutdown
    }
}

TEST_CASE("kv_server without --stats prints no table") {
    temp_dir dir("nostats");
    child server({}, dir.path / "log");
    REQUIRE(server.port() != 0);
    {
        conn c(server.port());
        REQUIRE(c.connected());
        CHECK(c.request("SET a 1") == "OK");
    }
    REQUIRE(server.stop() == 0);
    CHECK(server.log().find("storage::set") == std::string::npos);
}
