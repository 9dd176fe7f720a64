// Unit tests of the CLI's pure parts: endpoint and member parsing (config/cluster_spec) and the
// client shell's JSON escaping (cluster/json.hpp).
#define BOOST_TEST_MODULE cli_config
#include <boost/test/unit_test.hpp>

#include "cluster/json.hpp"
#include "config/cluster_spec.hpp"

using namespace raft;

BOOST_AUTO_TEST_CASE(endpoints) {
  auto ep = parse_endpoint("127.0.0.1:7101");
  BOOST_REQUIRE(ep);
  BOOST_CHECK_EQUAL(ep->host, "127.0.0.1");
  BOOST_CHECK_EQUAL(ep->port, 7101);
  auto v6 = parse_endpoint("[::1]:80");
  BOOST_REQUIRE(v6);
  BOOST_CHECK_EQUAL(v6->host, "::1");
  BOOST_CHECK_EQUAL(v6->to_string(), "[::1]:80");
  for (auto bad : {"", "host", ":80", "h:0", "h:65536", "h:8x", "::1:80", "h:123456"})
    BOOST_CHECK_MESSAGE(!parse_endpoint(bad), bad);
  auto list = parse_endpoints("a:1, b:2,a:1");
  BOOST_REQUIRE(list);
  BOOST_CHECK_EQUAL(list->size(), 2u);
  BOOST_CHECK(!parse_endpoints(""));
  BOOST_CHECK(!parse_endpoints("a:1,b"));
}

BOOST_AUTO_TEST_CASE(members) {
  auto m = parse_members({"1=a:1,2=b:2"});
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->size(), 2u);
  BOOST_CHECK_EQUAL(format_members(*m), "1=a:1,2=b:2");
  auto list = parse_members({"3=c:3", "1=a:1"});
  BOOST_REQUIRE(list);
  BOOST_CHECK_EQUAL(format_members(*list), "1=a:1,3=c:3");
  BOOST_CHECK(!parse_members({}));
  BOOST_CHECK(!parse_members({"1=a:1,1=b:2"}));  // duplicate id
  BOOST_CHECK(!parse_members({"1=a:1,2=a:1"}));  // duplicate address
  BOOST_CHECK(!parse_members({"0=a:1"}));        // ids are positive
  BOOST_CHECK(!parse_members({"x=a:1"}));
  BOOST_CHECK(!parse_members({"1:a:1"}));
  auto err = parse_members({"1=a"});
  BOOST_REQUIRE(!err);
  BOOST_CHECK_MESSAGE(error_text(err.error()).find("\"1=a\"") != std::string::npos,
                      error_text(err.error()));
  auto one = parse_member(" 4=h:7 ");
  BOOST_REQUIRE(one);
  BOOST_CHECK_EQUAL(one->first, 4u);
  BOOST_CHECK_EQUAL(one->second.to_string(), "h:7");
  BOOST_CHECK(!parse_member("4"));
  BOOST_CHECK(!parse_member("4=h"));
  BOOST_CHECK(!parse_member("=h:7"));
  BOOST_CHECK(!parse_member("4=h:7,5=h:8"));  // one member only: the port is "7,5=h:8"
  BOOST_CHECK(parse_node_id("42") == node_id{42});
  BOOST_CHECK(!parse_node_id("-1"));
  BOOST_CHECK(!parse_node_id("99999999999999999999"));
}

BOOST_AUTO_TEST_CASE(json_escaping) {
  using raft::cli::json_quote;
  BOOST_CHECK_EQUAL(json_quote("plain"), "\"plain\"");
  BOOST_CHECK_EQUAL(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  BOOST_CHECK_EQUAL(json_quote(std::string("\n\t\x01\x7f", 4)), "\"\\n\\t\\u0001\\u007f\"");
  BOOST_CHECK_EQUAL(json_quote("h\xc3\xa9"), "\"h\xc3\xa9\"");  // UTF-8 passes through
  raft::cli::json_object obj;
  obj.boolean("ok", false).str("error", "cas_failed").null("value");
  BOOST_CHECK_EQUAL(obj.render(), "{\"ok\":false,\"error\":\"cas_failed\",\"value\":null}");
}
