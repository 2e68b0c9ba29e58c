// Live broadcasting in a real browser: Debian's Chromium, headless, runs a page served by
// askr whose EventSource receives the events PHP publishes (docs/broadcast.md).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "browser_support.hpp"
#include "harness.hpp"

namespace askr::test {
namespace {

using namespace std::chrono_literals;

constexpr int event_count = 20;

// Writes each event into the list (its id, its name, its data) and closes the stream after
// `n` of them: with the request over, the browser's virtual time runs out and it dumps the
// page. textContent keeps the data text, whatever it holds.
constexpr const char* page = R"HTML(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>events</title></head>
<body data-state="connecting"><ol id="events"></ol>
<script>
const n = Number(new URLSearchParams(location.search).get("n"));
const source = new EventSource("/askr/events?channel=browser.test");
let seen = 0;
function add(e) {
  const item = document.createElement("li");
  item.dataset.id = e.lastEventId;
  item.dataset.type = e.type;
  item.textContent = e.data;
  document.getElementById("events").appendChild(item);
  if (++seen === n) { source.close(); document.body.dataset.state = "done"; }
}
source.onopen = () => { if (seen < n) document.body.dataset.state = "open"; };
source.onmessage = add;
source.addEventListener("status", add);
source.onerror = () => { document.body.dataset.state = "error"; };
</script></body></html>
)HTML";

// Publishes event ?i= (named "status" for every third one) and answers its id.
constexpr const char* publish_script = R"PHP(<?php
$i = (int)$_GET['i'];
echo askr_broadcast('browser.test', json_encode(['n' => $i, 'text' => "<b>é & $i</b>"]),
                    $i % 3 === 0 ? 'status' : null);
)PHP";

std::uint64_t subscribers(const Server& server) {
    const auto body = get(server.admin_url("/api/metrics")).body;
    const auto m = nlohmann::json::parse(body, nullptr, false);
    if (m.is_discarded() || m["broadcast"].is_null()) return 0;
    return m["broadcast"]["subscribers"].get<std::uint64_t>();
}

TEST(BroadcastBrowser, AnEventSourceGetsEveryEventInOrderWithItsId) {
    if (browser().empty())
        GTEST_SKIP() << "Chromium is not installed (scripts/install-deps.sh installs it)";
    TempDir root;
    root.write("events.html", page);
    root.write("pub.php", publish_script);
    TempDir profile;
    // A heartbeat a second: a stream whose client left is noticed at its next write.
    Server server(root.path(), {"--broadcast", "--broadcast-heartbeat", "1", "--workers", "2"});

    auto dom = std::async(std::launch::async, [&] {
        return run_browser(profile.path(), "--dump-dom",
                           server.url("/events.html?n=" + std::to_string(event_count)), 2000);
    });
    // The browser subscribes; once the stream is open the events are published, each from
    // its own request (either worker may run it).
    bool subscribed = false;
    for (int i = 0; i < 400 && !subscribed; ++i) {
        subscribed = subscribers(server) == 1;
        if (!subscribed) std::this_thread::sleep_for(50ms);
    }
    if (!subscribed) {
        const std::string out = dom.get();
        if (out.find("<ol id=\"events\">") == std::string::npos)
            GTEST_SKIP() << "Chromium did not run here (no page came back from " << browser() << ")";
        FAIL() << "the page never subscribed: " << out;
    }
    std::vector<std::string> ids;
    for (int i = 1; i <= event_count; ++i) {
        const Response r = get(server.url("/pub.php?i=" + std::to_string(i)));
        ASSERT_EQ(r.status, 200) << r.body;
        ids.push_back(r.body);
    }
    ASSERT_EQ(dom.wait_for(70s), std::future_status::ready);
    const std::string out = dom.get();
    EXPECT_NE(out.find("data-state=\"done\""), std::string::npos) << out;

    const std::regex item(R"re(<li data-id="(\d+)" data-type="([a-z]+)">([^<]*)</li>)re");
    std::vector<std::smatch> items;
    for (auto it = std::sregex_iterator(out.begin(), out.end(), item); it != std::sregex_iterator();
         ++it)
        items.push_back(*it);
    ASSERT_EQ(items.size(), static_cast<std::size_t>(event_count)) << out;
    for (int i = 1; i <= event_count; ++i) {
        const auto& m = items[i - 1];
        EXPECT_EQ(m[1].str(), ids[i - 1]) << "event " << i << " out of order or with a wrong id";
        EXPECT_EQ(m[2].str(), i % 3 == 0 ? "status" : "message");
        // The DOM serialiser escapes the text again: the data came through byte for byte.
        EXPECT_EQ(m[3].str(), "{\"n\":" + std::to_string(i) + ",\"text\":\"&lt;b&gt;\\u00e9 &amp; " +
                                  std::to_string(i) + "&lt;\\/b&gt;\"}")
            << out;
    }
    // The browser closed its stream: the worker sees it go (at the latest with a heartbeat).
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
        gone = subscribers(server) == 0;
        if (!gone) std::this_thread::sleep_for(25ms);
    }
    EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace askr::test
