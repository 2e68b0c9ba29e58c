// The Laravel 8 example app (examples/laravel-app, on Debian's php-laravel-framework) in
// classic mode, in worker mode through integrations/laravel/worker.php, and with --cow.
// Two clients, each with its own cookies, are interleaved through two workers: one's
// login, session data, CSRF token, validation errors and flash message never reach the
// other; an exception renders Laravel's 500 page and the worker goes on; route model
// binding answers 404 for an unknown id.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "broadcast_support.hpp"
#include "harness.hpp"
#include "php_support.hpp"

namespace askr::test::php {
namespace {

const std::string app_dir = std::string(ASKR_SOURCE_DIR) + "/examples/laravel-app";
const std::string worker_script = std::string(ASKR_SOURCE_DIR) + "/integrations/laravel/worker.php";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// A browser's cookie jar, enough for Laravel's session and XSRF-TOKEN cookies.
class Client {
  public:
    explicit Client(const Server& server) : server_(server) {}

    Response send(const std::string& method, const std::string& path,
                  const std::string& form = "") {
        RequestOptions options;
        options.method = method;
        options.body = form;
        if (method == "POST")
            options.headers.push_back("Content-Type: application/x-www-form-urlencoded");
        std::string cookie;
        for (const auto& [name, value] : cookies_)
            cookie += (cookie.empty() ? "" : "; ") + name + "=" + value;
        if (!cookie.empty()) options.headers.push_back("Cookie: " + cookie);
        auto response = request(server_.url(path), options);
        for (const auto& [name, value] : response.header_list) {
            if (name != "set-cookie") continue;
            const auto eq = value.find('=');
            const auto end = value.find(';');
            cookies_[value.substr(0, eq)] = value.substr(eq + 1, end - eq - 1);
        }
        return response;
    }
    Response get(const std::string& path) { return send("GET", path); }
    Response post(const std::string& path, const std::string& form) {
        return send("POST", path, form);
    }

    // The CSRF token of a page's form (Blade's @csrf field).
    static std::string token_of(const Response& page) {
        const std::string marker = "name=\"_token\" value=\"";
        const auto at = page.body.find(marker);
        if (at == std::string::npos) return "";
        const auto start = at + marker.size();
        return page.body.substr(start, page.body.find('"', start) - start);
    }

  private:
    const Server& server_;
    std::map<std::string, std::string> cookies_;
};

// Sets the app up in `storage` (migrations, seed data, writable directories) and starts a
// server for it with `args`. PHP sees only the environment it is given (docs/php.md), so
// the storage directory and the app's base path go through --php-env. Null, the failure
// reported, when the setup fails.
std::unique_ptr<Server> laravel_server(const TempDir& storage, std::vector<std::string> args) {
    const std::string setup =
        command_output("LARAVEL_STORAGE=" + storage.path() + " " + app_dir + "/bin/setup 2>&1");
    if (!contains(setup, "Laravel app ready")) {
        ADD_FAILURE() << setup;
        return nullptr;
    }
    args.insert(args.end(), {"--php-env", "LARAVEL_STORAGE=" + storage.path(), "--php-env",
                             "APP_BASE_PATH=" + app_dir});
    auto server = std::make_unique<Server>(app_dir + "/public", args);
    server->allow_worker_fds(8);  // the SQLite database and session files a worker holds open
    return server;
}

void exercise_the_app(const std::vector<std::string>& mode_args) {
    TempDir storage;
    std::vector<std::string> args = {"--workers", "2"};
    args.insert(args.end(), mode_args.begin(), mode_args.end());
    auto app = laravel_server(storage, args);
    ASSERT_TRUE(app);
    Server& server = *app;

    Client ada(server);
    Client bob(server);

    // The Blade page of Eloquent models read from SQLite.
    auto home = ada.get("/");
    ASSERT_EQ(home.status, 200) << home.body;
    EXPECT_TRUE(contains(home.body, "<td>42.00</td><td>3</td>")) << home.body;
    EXPECT_TRUE(contains(home.body, ">Lathe</a>")) << home.body;

    // Each client gets its own CSRF token.
    auto ada_login = ada.get("/login");
    auto bob_login = bob.get("/login");
    const std::string ada_token = Client::token_of(ada_login);
    const std::string bob_token = Client::token_of(bob_login);
    ASSERT_FALSE(ada_token.empty()) << ada_login.body;
    ASSERT_FALSE(bob_token.empty()) << bob_login.body;
    EXPECT_NE(ada_token, bob_token);
    // Bob's token is not Ada's: with it, her POST is refused (419 page expired).
    EXPECT_EQ(
        ada.post("/login", "_token=" + bob_token + "&email=ada@example.com&password=secret-ada")
            .status,
        419);

    // Ada logs in and keeps a note in her session.
    auto login =
        ada.post("/login", "_token=" + ada_token + "&email=ada@example.com&password=secret-ada");
    ASSERT_EQ(login.status, 302) << login.body;
    auto dashboard = ada.get("/dashboard");
    ASSERT_EQ(dashboard.status, 200) << dashboard.body;
    EXPECT_TRUE(contains(dashboard.body, "<h1>Hello, Ada</h1>")) << dashboard.body;
    ASSERT_EQ(
        ada.post("/note", "_token=" + Client::token_of(dashboard) + "&note=ada-secret-note").status,
        302);

    // Bob is still a guest, whichever worker answers.
    for (int i = 0; i < 4; ++i) {
        auto bob_dashboard = bob.get("/dashboard");
        EXPECT_EQ(bob_dashboard.status, 302) << bob_dashboard.body;
        auto bob_home = bob.get("/");
        EXPECT_TRUE(contains(bob_home.body, "Log in</a>")) << bob_home.body;
        EXPECT_FALSE(contains(bob_home.body, "Log out")) << bob_home.body;
        EXPECT_FALSE(contains(bob_home.body, "ada-secret-note")) << bob_home.body;
    }
    // Ada's flash message is hers, shown once, and her note stays hers.
    auto ada_dashboard = ada.get("/dashboard");
    EXPECT_TRUE(contains(ada_dashboard.body, "Note: ada-secret-note")) << ada_dashboard.body;

    // Bob's validation errors and old input go back to Bob only.
    auto bob_form = bob.get("/messages");
    auto invalid = bob.post(
        "/messages", "_token=" + Client::token_of(bob_form) + "&author=bob-old-input&body=x");
    ASSERT_EQ(invalid.status, 302) << invalid.body;
    auto ada_form = ada.get("/messages");
    EXPECT_FALSE(contains(ada_form.body, "class=\"errors\"")) << ada_form.body;
    EXPECT_FALSE(contains(ada_form.body, "bob-old-input")) << ada_form.body;
    auto bob_errors = bob.get("/messages");
    EXPECT_TRUE(contains(bob_errors.body, "The body must be at least 5 characters."))
        << bob_errors.body;
    EXPECT_TRUE(contains(bob_errors.body, "value=\"bob-old-input\"")) << bob_errors.body;
    // A valid message: a flash for Bob, a job on the database queue.
    auto saved = bob.post(
        "/messages", "_token=" + Client::token_of(bob_errors) + "&author=Bob&body=hello there");
    ASSERT_EQ(saved.status, 302) << saved.body;
    EXPECT_FALSE(contains(ada.get("/messages").body, "saved.")) << "Bob's flash reached Ada";
    EXPECT_TRUE(contains(bob.get("/messages").body, "Message from Bob saved."))
        << "Bob's flash is lost";
    auto stats = nlohmann::json::parse(bob.get("/api/stats").body, nullptr, false);
    ASSERT_TRUE(stats.is_object());
    EXPECT_EQ(stats["messages"], 1);
    EXPECT_EQ(stats["queued_jobs"], 1);

    // Laravel's 500 page, and the workers go on; route model binding 404s.
    auto boom = bob.get("/boom");
    EXPECT_EQ(boom.status, 500);
    EXPECT_TRUE(contains(boom.body, "Server Error")) << boom.body;
    auto missing = bob.get("/products/999");
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(contains(missing.body, "Not Found")) << missing.body;
    EXPECT_EQ(bob.get("/api/products/999").status, 404);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(bob.get("/").status, 200);

    // Logging out ends Ada's session; Bob never had one.
    ASSERT_EQ(ada.post("/logout", "_token=" + Client::token_of(ada.get("/dashboard"))).status, 302);
    EXPECT_EQ(ada.get("/dashboard").status, 302);
}

TEST(LaravelApp, ClassicMode) {
    exercise_the_app({});
}

TEST(LaravelApp, WorkerMode) {
    exercise_the_app({"--worker", worker_script});
}

TEST(LaravelApp, WorkerModeWithCow) {
    exercise_the_app({"--worker", worker_script, "--cow"});
}

// The `askr` cache store (integrations/laravel): Cache::remember() computed once for both
// workers under a burst of concurrent misses, Cache::lock() exclusive across workers, and a
// lock's owner, restore and force release.
void exercise_the_cache_store(const std::vector<std::string>& mode_args) {
    TempDir storage;
    std::vector<std::string> args = {"--workers", "2"};
    args.insert(args.end(), mode_args.begin(), mode_args.end());
    auto app = laravel_server(storage, args);
    ASSERT_TRUE(app);
    Server& server = *app;

    std::vector<std::future<Response>> burst;
    for (int i = 0; i < 8; ++i)
        burst.push_back(
            std::async(std::launch::async, [&] { return get(server.url("/api/cache/remember")); }));
    std::string value;
    std::map<std::string, std::string> by_pid;  // worker pid -> the value it returned
    for (auto& f : burst) {
        auto r = f.get();
        ASSERT_EQ(r.status, 200) << r.body;
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << r.body;
        if (value.empty()) value = j["value"].dump();
        EXPECT_EQ(j["value"].dump(), value) << "two requests saw different values";
        by_pid[j["pid"].dump()] = j["value"].dump();
    }
    // Until both workers have answered (fresh connections spread over them).
    for (int i = 0; i < 60 && by_pid.size() < 2; ++i) {
        auto j = nlohmann::json::parse(get(server.url("/api/cache/remember")).body, nullptr, false);
        ASSERT_TRUE(j.is_object());
        by_pid[j["pid"].dump()] = j["value"].dump();
    }
    EXPECT_EQ(by_pid.size(), 2u) << "only one worker answered";
    for (const auto& [pid, seen] : by_pid) EXPECT_EQ(seen, value) << "worker " << pid;
    auto last = nlohmann::json::parse(get(server.url("/api/cache/remember")).body, nullptr, false);
    EXPECT_EQ(last["computed"], 1) << "computed more than once: " << last.dump();

    std::vector<std::future<Response>> contenders;
    for (int i = 0; i < 8; ++i)
        contenders.push_back(
            std::async(std::launch::async, [&] { return get(server.url("/api/cache/locked")); }));
    std::set<std::string> pids;
    for (auto& f : contenders) {
        auto r = f.get();
        ASSERT_EQ(r.status, 200) << r.body;
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        EXPECT_EQ(j["alone"], true) << "two requests were inside the lock at once";
        pids.insert(j["pid"].dump());
    }
    std::printf("[ INFO     ] the lock's 8 holders ran on %zu worker(s)\n", pids.size());

    auto owner =
        nlohmann::json::parse(get(server.url("/api/cache/lock-owner")).body, nullptr, false);
    EXPECT_EQ(owner,
              (nlohmann::json{
                  {"acquired", true}, {"second", false}, {"restored", true}, {"free", true}}));
}

TEST(LaravelApp, AskrCacheStoreInWorkerMode) {
    exercise_the_cache_store({"--worker", worker_script});
}

TEST(LaravelApp, AskrCacheStoreInClassicMode) {
    exercise_the_cache_store({});
}

// The worker's resident memory after 2,000 requests of the Blade page (opcache, PHP's
// allocator and the app's caches warm) and after 18,000 more: what a request leaves
// behind, 60 bytes of it each, would show as a megabyte.
TEST(LaravelApp, WorkerRssStaysFlatOver20000Requests) {
    TempDir storage;
    auto app = laravel_server(storage, {"--workers", "1", "--worker", worker_script});
    ASSERT_TRUE(app);
    Server& server = *app;
    auto rss_kib = [&] {
        auto status =
            nlohmann::json::parse(get(server.admin_url("/api/status")).body, nullptr, false);
        return status["workers"][0]["rss_bytes"].get<std::uint64_t>() / 1024;
    };
    auto load = [&](int requests) {
        const std::string out = command_output("h2load --h1 -c 4 -n " + std::to_string(requests) +
                                               " " + server.url("/") + " 2>&1");
        EXPECT_TRUE(contains(out, std::to_string(requests) + " succeeded, 0 failed")) << out;
    };
    load(2000);
    const auto warm = rss_kib();
    load(18000);
    const auto after = rss_kib();
    std::printf("[ INFO     ] worker RSS after 2,000 requests %llu KiB, after 20,000 %llu KiB\n",
                static_cast<unsigned long long>(warm), static_cast<unsigned long long>(after));
    EXPECT_LT(after, warm + 1024) << "the worker grows by " << (after - warm) << " KiB";
}

// The worker's resets leave nothing for --paranoid to report on the app's clean pages.
TEST(LaravelApp, ParanoidReportsNothingOnCleanRoutes) {
    TempDir storage;
    auto app = laravel_server(storage, {"--workers", "1", "--worker", worker_script, "--paranoid"});
    ASSERT_TRUE(app);
    Server& server = *app;
    Client client(server);
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(client.get("/").status, 200);
        EXPECT_EQ(client.get("/messages").status, 200);
        EXPECT_EQ(client.get("/api/products").status, 200);
        EXPECT_EQ(client.get("/products/1").status, 200);
    }
    EXPECT_TRUE(contains(server.log(), "[warning] --paranoid is on")) << server.log();
    EXPECT_FALSE(contains(server.log(), "paranoid: worker")) << server.log();
}

// A static property the app appends to on every request (its /debug/leak route) is named
// by --paranoid, once.
TEST(LaravelApp, ParanoidNamesALeakingStaticProperty) {
    TempDir storage;
    auto app = laravel_server(storage, {"--workers", "1", "--worker", worker_script, "--paranoid"});
    ASSERT_TRUE(app);
    Server& server = *app;
    for (int i = 1; i <= 45; ++i) {
        auto r = get(server.url("/debug/leak?page=" + std::to_string(i)));
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(r.body, "pages remembered: " + std::to_string(i));
    }
    const std::string leak = "static property App\\Support\\RecentPages::$visited keeps growing";
    ASSERT_TRUE(server.wait_for_log(leak, std::chrono::seconds(3))) << server.log();
    const std::string log = server.log();
    EXPECT_EQ(log.find(leak), log.rfind(leak)) << "reported more than once:\n" << log;
}

// integrations/laravel/queue.php and scheduler.php as sidecars: a job dispatched from a
// web request (the message form) is run by the queue sidecar, the scheduled task (every
// minute; here every second) queues its own job, and a graceful stop drains the queue
// sidecar cleanly.
TEST(LaravelApp, QueueAndSchedulerSidecarsRunTheJobs) {
    TempDir storage;
    const std::string integration = std::string(ASKR_SOURCE_DIR) + "/integrations/laravel";
    auto app =
        laravel_server(storage, {"--workers", "1", "--worker", worker_script, "--queue", "1",
                                 "--queue-script", integration + "/queue.php", "--php-env",
                                 "QUEUE_WORK_SLEEP=1", "--scheduler-script",
                                 integration + "/scheduler.php", "--scheduler-interval", "1"});
    ASSERT_TRUE(app);
    Server& server = *app;
    Client client(server);
    auto form = client.get("/messages");
    auto saved = client.post(
        "/messages", "_token=" + Client::token_of(form) + "&author=Ada&body=queued from the web");
    ASSERT_EQ(saved.status, 302) << saved.body;
    nlohmann::json stats;
    auto visits = [&](const char* source) {  // none yet: Laravel sends []
        const auto& by_source = stats["visits_by_source"];
        return by_source.is_object() ? by_source.value(source, 0) : 0;
    };
    for (int i = 0; i < 300; ++i) {
        stats = nlohmann::json::parse(client.get("/api/stats").body, nullptr, false);
        if (stats.is_object() && visits("message") == 1 && visits("scheduler") >= 2) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(visits("message"), 1) << stats.dump();
    EXPECT_GE(visits("scheduler"), 2) << stats.dump();
    EXPECT_TRUE(server.wait_for_log("queue:0: processed App\\Jobs\\RecordVisit")) << server.log();
    EXPECT_TRUE(contains(server.log(), "Running scheduled command: App\\Jobs\\RecordVisit"))
        << server.log();
    // queue.php counts each processed job (askr_sidecar_job_done()): the message's and the
    // scheduler's.
    nlohmann::json queue_sidecar;
    for (int i = 0; i < 100 && !(queue_sidecar["jobs_done"] >= 3); ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        auto status =
            nlohmann::json::parse(get(server.admin_url("/api/status")).body, nullptr, false);
        for (const auto& sidecar : status["sidecars"])
            if (sidecar["name"] == "queue:0") queue_sidecar = sidecar;
    }
    EXPECT_GE(queue_sidecar["jobs_done"], 3) << queue_sidecar.dump();
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
    EXPECT_TRUE(contains(server.log(), "queue:0: queue worker stopped (status 0)")) << server.log();
}

// The `askr` broadcaster (BROADCAST_DRIVER=askr, --broadcast): a message posted through the
// form reaches a subscriber of the public channel "messages" as the event message.posted,
// from whichever worker took the POST, and the signed-in author's private channel through
// the token /broadcasting/auth gives her; a guest, and another user's channel, get none.
TEST(LaravelApp, AskrBroadcasterReachesSubscribers) {
    TempDir storage;
    auto app = laravel_server(storage, {"--workers", "2", "--worker", worker_script, "--broadcast",
                                        "--php-env", "BROADCAST_DRIVER=askr"});
    ASSERT_TRUE(app);
    Server& server = *app;
    auto message_of = [](const std::optional<broadcast::Event>& event) {
        EXPECT_TRUE(event) << "no event";
        if (!event) return nlohmann::json();
        EXPECT_EQ(event->name, "message.posted");
        auto data = nlohmann::json::parse(event->data, nullptr, false);
        EXPECT_EQ(data["event"], "message.posted") << event->data;
        return data["data"];
    };
    broadcast::Subscriber everyone(server.port(), "?channel=messages");
    ASSERT_EQ(everyone.status(), 200) << everyone.head();
    ASSERT_TRUE(broadcast::wait_for_subscribers(server, 1));

    Client guest(server);
    const std::string guest_token = Client::token_of(guest.get("/messages"));
    auto refused =
        guest.post("/broadcasting/auth", "_token=" + guest_token + "&channel_name=private-user.1");
    EXPECT_EQ(refused.status, 403) << refused.body;
    ASSERT_EQ(guest.post("/messages", "_token=" + guest_token + "&author=Guest&body=hello everyone")
                  .status,
              302);
    auto posted = message_of(everyone.next_event());
    EXPECT_EQ(posted["author"], "Guest") << posted.dump();
    EXPECT_EQ(posted["body"], "hello everyone") << posted.dump();

    Client ada(server);  // user 1
    ASSERT_EQ(ada.post("/login", "_token=" + Client::token_of(ada.get("/login")) +
                                     "&email=ada@example.com&password=secret-ada")
                  .status,
              302);
    const std::string ada_token = Client::token_of(ada.get("/dashboard"));
    auto auth =
        ada.post("/broadcasting/auth", "_token=" + ada_token + "&channel_name=private-user.1");
    ASSERT_EQ(auth.status, 200) << auth.body;
    const auto channel_token = nlohmann::json::parse(auth.body, nullptr, false).value("token", "");
    ASSERT_FALSE(channel_token.empty()) << auth.body;
    EXPECT_EQ(ada.post("/broadcasting/auth", "_token=" + ada_token + "&channel_name=private-user.2")
                  .status,
              403);
    broadcast::Subscriber stranger(server.port(), "?channel=private-user.1");
    EXPECT_EQ(stranger.status(), 401) << stranger.head();
    broadcast::Subscriber hers(server.port(), "?channel=private-user.1&token=" + channel_token);
    ASSERT_EQ(hers.status(), 200) << hers.head();
    ASSERT_TRUE(broadcast::wait_for_subscribers(server, 2));

    ASSERT_EQ(
        ada.post("/messages", "_token=" + ada_token + "&author=Ada&body=for you and all").status,
        302);
    auto private_copy = message_of(hers.next_event());
    EXPECT_EQ(private_copy["author"], "Ada") << private_copy.dump();
    auto public_copy = message_of(everyone.next_event());
    EXPECT_EQ(public_copy["body"], "for you and all") << public_copy.dump();
    EXPECT_EQ(public_copy["id"], private_copy["id"]);
}

}  // namespace
}  // namespace askr::test::php
