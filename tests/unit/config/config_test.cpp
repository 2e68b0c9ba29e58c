// The configuration schema and loader: every error class names file, line, key and what
// is expected; precedence flag > environment > file > default; every schema entry
// round-trips; docs/configuration.md is what the schema generates.
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/command_line.hpp"
#include "config/docs.hpp"
#include "config/loader.hpp"
#include "config/schema.hpp"
#include "core/suggest.hpp"

namespace askr::config {
namespace {

namespace fs = std::filesystem;

// A scratch directory with an askr.toml in it; removed at the end of the test.
class Scratch {
  public:
    Scratch() {
        char pattern[] = "/tmp/askr-config-test-XXXXXX";
        dir_ = ::mkdtemp(pattern);
        fs::create_directories(dir_ + "/public");
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string write(const std::string& name, const std::string& content) const {
        std::ofstream(dir_ + "/" + name) << content;
        return dir_ + "/" + name;
    }
    std::string root() const { return dir_ + "/public"; }
    const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
};

std::vector<std::string> errors_of(const Sources& sources, bool finalize_too) {
    try {
        Config config = load(sources);
        if (finalize_too) finalize(config);
    } catch (const ConfigErrors& e) {
        return e.messages();
    }
    return {};
}

std::string joined(const std::vector<std::string>& messages) {
    std::string out;
    for (const auto& m : messages) out += m + "\n";
    return out;
}

// --- file errors: one per class, each naming file:line, the key and the expectation ----

struct FileErrorCase {
    const char* name;
    std::string toml;
    int line;
    std::string key;       // "[server] lisen", as the message names it
    std::string expected;  // what the message says is expected
};

TEST(ConfigFileErrors, NameFileLineKeyAndExpectation) {
    const FileErrorCase cases[] = {
        {"unknown key", "[server]\nlisen = \":80\"\n", 2, "[server] lisen",
         "unknown key; did you mean listen?"},
        {"unknown key elsewhere", "[server]\ncert = \"x.pem\"\n", 2, "[server] cert",
         "it belongs in [tls]"},
        {"unknown key far off", "[server]\nzzzzzz = 1\n", 2, "[server] zzzzzz",
         "keys of [server]: root, listen"},
        {"unknown section", "\n[sever]\nroot = \"x\"\n", 2, "[sever]",
         "unknown section; did you mean [server]?"},
        {"key outside a section", "listen = \":80\"\n", 1, "listen",
         "did you mean [server] listen?"},
        {"wrong type integer", "[workers]\ncount = \"4\"\n", 2, "[workers] count = \"4\"",
         "expected an integer from 1 to 1024, got a string"},
        {"wrong type boolean", "[tls]\nself_signed = \"yes\"\n", 2, "[tls] self_signed",
         "expected true or false, got a string"},
        {"float for integer", "[worker]\nmax_requests = 1.5\n", 2, "[worker] max_requests",
         "got a float"},
        {"port out of range", "[server]\nlisten = [\"127.0.0.1:99999\"]\n", 2, "[server] listen",
         "the port must be a number from 0 to 65535"},
        {"listen not an address", "[server]\nlisten = \"nonsense\"\n", 2, "[server] listen",
         "expected HOST:PORT"},
        {"unknown listen option", "[server]\nlisten = [\":80,proxy\"]\n", 2, "[server] listen",
         "unknown listen option 'proxy' (known: proxy-protocol, mode=OCTAL)"},
        {"admin listen option", "[admin]\nlisten = \"127.0.0.1:2019,proxy-protocol\"\n", 2,
         "[admin] listen", "the admin listener takes no options"},
        {"unix socket not absolute", "[server]\nlisten = [\"unix:run/askr.sock\"]\n", 2,
         "[server] listen", "unix:/ABSOLUTE/PATH"},
        {"unix socket mode", "[server]\nlisten = [\"unix:/run/a.sock,mode=999\"]\n", 2,
         "[server] listen", "octal permissions such as 0660"},
        {"listen option unknown", "[server]\nlisten = [\":8080,fast\"]\n", 2, "[server] listen",
         "unknown listen option 'fast'"},
        {"mode on tcp", "[server]\nlisten = [\":8080,mode=0600\"]\n", 2, "[server] listen",
         "applies to unix:/PATH addresses only"},
        {"admin on unix socket", "[admin]\nlisten = \"unix:/run/admin.sock\"\n", 2, "[admin] listen",
         "the admin listener takes HOST:PORT"},
        {"negative size", "[server]\nmax_body_size = -1\n", 2, "[server] max_body_size",
         "not a negative size"},
        {"bad size unit", "[server]\nmax_body_size = \"10 XB\"\n", 2,
         "[server] max_body_size = \"10 XB\"", "expected a size such as 512K, 10M or 1G"},
        {"zero timeout", "[server]\n\nheader_timeout = 0\n", 3, "[server] header_timeout = 0",
         "expected a whole number of seconds from 1 to 86400"},
        {"negative timeout", "[tls]\nhandshake_timeout = -5\n", 2, "[tls] handshake_timeout",
         "from 1 to 3600"},
        {"workers too many", "[workers]\ncount = 5000\n", 2, "[workers] count", "from 1 to 1024"},
        {"bad choice", "[log]\nlevel = \"verbose\"\n", 2, "[log] level",
         "expected one of trace, debug, info, warn or error"},
        {"bad symlinks", "[server]\nsymlinks = \"never\"\n", 2, "[server] symlinks",
         "one of follow or inside-root"},
        {"list element type", "[php]\nextensions = [\"intl\", 3]\n", 2, "[php] extensions",
         "got an integer in the list"},
        {"ini value type", "[php.ini]\nmemory_limit = [1]\n", 2, "[php.ini] memory_limit",
         "expected a string, number or boolean"},
        {"ini not a table", "[php]\nini = \"memory_limit=1G\"\n", 2, "[php] ini",
         "expected a table of KEY=VALUE settings, got a string"},
        {"admin listen", "[admin]\nlisten = \"somewhere\"\n", 2, "[admin] listen",
         "expected HOST:PORT, e.g. 127.0.0.1:8080 or :8080, or off"},
        {"syntax error", "[server]\nroot = \"unterminated\n", 2, "TOML syntax error",
         "Error while parsing string"},
        {"duplicate key", "[server]\nindex = \"a.php\"\nindex = \"b.php\"\n", 3,
         "TOML syntax error", "cannot redefine existing string 'index'"},
    };
    Scratch scratch;
    for (const auto& c : cases) {
        const std::string path = scratch.write("askr.toml", c.toml);
        const auto errors = errors_of({path, {}, {}}, false);
        ASSERT_EQ(errors.size(), 1u) << c.name << ":\n" << joined(errors);
        const std::string& m = errors.front();
        EXPECT_EQ(m.rfind(path + ":" + std::to_string(c.line) + ":", 0), 0u) << c.name << ": " << m;
        EXPECT_NE(m.find(c.key), std::string::npos) << c.name << ": " << m;
        EXPECT_NE(m.find(c.expected), std::string::npos) << c.name << ": " << m;
    }
}

TEST(ConfigFileErrors, AllErrorsAreReportedInFileOrder) {
    Scratch scratch;
    const std::string path = scratch.write(
        "askr.toml", "[server]\nlisen = 1\nmax_body_size = \"1X\"\n[workers]\ncount = 0\n");
    const auto errors = errors_of({path, {}, {}}, false);
    ASSERT_EQ(errors.size(), 3u) << joined(errors);
    EXPECT_NE(errors[0].find(":2: [server] lisen"), std::string::npos);
    EXPECT_NE(errors[1].find(":3: [server] max_body_size"), std::string::npos);
    EXPECT_NE(errors[2].find(":5: [workers] count"), std::string::npos);
}

TEST(ConfigFileErrors, UnreadableFileIsNamed) {
    const auto errors = errors_of({"/nonexistent/askr.toml", {}, {}}, false);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0],
              "/nonexistent/askr.toml: cannot read the config file: No such file or directory");
}

// --- checks across options and against the file system ---------------------------------

TEST(ConfigFinalize, FileSystemAndCombinationErrorsNameTheirKey) {
    Scratch scratch;
    const std::string root = "root = \"" + scratch.root() + "\"\n";
    struct Case {
        const char* name;
        std::string toml, expected;
    } cases[] = {
        {"missing root", "[server]\nroot = \"/nonexistent-askr-root\"\n",
         ":2: [server] root = \"/nonexistent-askr-root\": No such file or directory"},
        {"root is a file", "[server]\nroot = \"" + scratch.write("file.txt", "x") + "\"\n",
         "[server] root = \"" + scratch.dir() + "/file.txt\": not a directory"},
        {"no root at all", "[workers]\ncount = 1\n", "[server] root is required"},
        {"worker script missing",
         "[server]\n" + root + "[worker]\nscript = \"/nonexistent/worker.php\"\n",
         ":4: [worker] script = \"/nonexistent/worker.php\": no such file"},
        {"key without cert",
         "[server]\n" + root + "[tls]\nkey = \"" + scratch.write("k.pem", "") + "\"\n",
         "[tls] key = \"" + scratch.dir() + "/k.pem\": needs [tls] cert"},
        {"cert unreadable",
         "[server]\n" + root + "[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"" +
             scratch.write("k.pem", "") + "\"\n",
         ":4: [tls] cert = \"/nonexistent/c.pem\": cannot read: No such file or directory"},
        {"self-signed and cert",
         "[server]\n" + root + "[tls]\nself_signed = true\ncert = \"" + scratch.write("c.pem", "") +
             "\"\nkey = \"" + scratch.write("k.pem", "") + "\"\n",
         "[tls] self_signed = true: [tls] self_signed and [tls] cert exclude each other"},
        {"listen_http without tls", "[server]\n" + root + "[tls]\nlisten_http = \":8081\"\n",
         "[tls] listen_http = \":8081\": redirects to HTTPS"},
        {"group without user", "[server]\n" + root + "group = \"www-data\"\n",
         "[server] group = \"www-data\": needs [server] user"},
        {"bad index", "[server]\n" + root + "index = \"app/index.php\"\n",
         "[server] index = \"app/index.php\": expected a file name"},
        {"public admin without token", "[server]\n" + root + "[admin]\nlisten = \"0.0.0.0:2019\"\n",
         "[admin] listen = \"0.0.0.0:2019\": not a loopback address: the admin listener then "
         "requires [admin] token"},
        {"short admin token", "[server]\n" + root + "[admin]\ntoken = \"abc\"\n",
         "[admin] token = \"abc\": expected at least 16 characters"},
        {"sendfile root missing",
         "[server]\n" + root + "sendfile_roots = [\"/nonexistent-askr-files\"]\n",
         "[server] sendfile_roots = [\"/nonexistent-askr-files\"]: /nonexistent-askr-files: No "
         "such file or directory"},
        {"sendfile root is a file",
         "[server]\n" + root + "sendfile_roots = [\"" + scratch.write("f.txt", "x") + "\"]\n",
         "/f.txt: not a directory: expected a directory whose files PHP may send"},
        {"cache value over its memory",
         "[server]\n" + root + "[cache]\nmemory = \"1M\"\nmax_value = \"2M\"\n",
         "[cache] max_value = \"2M\": is larger than [cache] memory (1M)"},
    };
    for (const auto& c : cases) {
        const std::string path = scratch.write("askr.toml", c.toml);
        const auto errors = errors_of({path, {}, {}}, true);
        ASSERT_EQ(errors.size(), 1u) << c.name << ":\n" << joined(errors);
        EXPECT_NE(errors[0].find(c.expected), std::string::npos) << c.name << ": " << errors[0];
    }
}

TEST(ConfigFinalize, AdminOnLoopbackNeedsNoTokenAndOffTurnsItOff) {
    Scratch scratch;
    Config config = load({scratch.write("askr.toml", "[server]\nroot = \"" + scratch.root() +
                                                         "\"\n[admin]\nlisten = \"[::1]:2019\"\n"),
                          {},
                          {}});
    finalize(config);
    ASSERT_TRUE(config.options.admin_listen.has_value());
    EXPECT_EQ(config.options.admin_listen->host, "::1");
    config = load({scratch.write("askr.toml", "[server]\nroot = \"" + scratch.root() +
                                                  "\"\n[admin]\nlisten = \"off\"\n"),
                   {},
                   {}});
    EXPECT_FALSE(config.options.admin_listen.has_value());
}

// --- environment and command line ------------------------------------------------------

TEST(ConfigEnvironment, ErrorsNameTheVariable) {
    const struct {
        std::vector<std::pair<std::string, std::string>> env;
        std::string expected;
    } cases[] = {
        {{{"ASKR_WORKERS_COUNT", "0"}},
         "environment ASKR_WORKERS_COUNT=0: expected an integer from 1 to 1024"},
        {{{"ASKR_SERVER_LISTN", "x"}},
         "environment ASKR_SERVER_LISTN: unknown variable; did you mean ASKR_SERVER_LISTEN?"},
        {{{"ASKR_TLS_SELF_SIGNED", "maybe"}},
         "environment ASKR_TLS_SELF_SIGNED=maybe: expected true or false"},
        {{{"ASKR_SERVER_MAX_BODY_SIZE", "10 XB"}}, "expected a size such as 512K"},
        {{{"ASKR_SERVER_LISTEN", "127.0.0.1:80,nonsense"}}, "nonsense: expected HOST:PORT"},
        {{{"ASKR_PHP_INI", "memory_limit"}}, "memory_limit: expected KEY=VALUE"},
    };
    for (const auto& c : cases) {
        const auto errors = errors_of({"", c.env, {}}, false);
        ASSERT_EQ(errors.size(), 1u) << c.expected << "\n" << joined(errors);
        EXPECT_NE(errors[0].find(c.expected), std::string::npos) << errors[0];
    }
    // Variables outside the sections' namespaces are not ours.
    EXPECT_TRUE(
        errors_of({"", {{"ASKR_SOMETHING_ELSE", "1"}, {"ASKR_CONFIG", "x"}}, {}}, false).empty());
}

TEST(ConfigEnvironment, ListsAndTablesHaveTheirSeparators) {
    Config config = load({"",
                          {{"ASKR_SERVER_LISTEN", "127.0.0.1:81, [::1]:82"},
                           {"ASKR_PHP_INI", "memory_limit=256M; display_errors=0"},
                           {"ASKR_TLS_SELF_SIGNED", "yes"}},
                          {}});
    ASSERT_EQ(config.options.listen.size(), 2u);
    EXPECT_EQ(config.options.listen[1].text(), "[::1]:82");
    EXPECT_EQ(config.options.php_ini,
              (KeyValues{{"memory_limit", "256M"}, {"display_errors", "0"}}));
    EXPECT_TRUE(config.options.tls_self_signed);
}

TEST(ConfigFile, IniTableTakesDottedKeysAndScalars) {
    Scratch scratch;
    const std::string path =
        scratch.write("askr.toml",
                      "[php.ini]\nopcache.enable = 1\nopcache.jit = \"tracing\"\n"
                      "display_errors = false\nprecision = 14.5\n\"session.name\" = \"sid\"\n");
    Config config = load({path, {}, {}});
    KeyValues ini = config.options.php_ini;
    std::sort(ini.begin(), ini.end());
    EXPECT_EQ(ini, (KeyValues{{"display_errors", "0"},
                              {"opcache.enable", "1"},
                              {"opcache.jit", "tracing"},
                              {"precision", "14.5"},
                              {"session.name", "sid"}}));
}

TEST(ConfigFile, ASingleStringIsAListOfOne) {
    Scratch scratch;
    Config config =
        load({scratch.write("askr.toml",
                            "[server]\nlisten = \"[::1]:81\"\n[php]\nextensions = \"intl\"\n"),
              {},
              {}});
    ASSERT_EQ(config.options.listen.size(), 1u);
    EXPECT_EQ(config.options.listen[0].host, "::1");
    EXPECT_EQ(config.options.php_extensions, std::vector<std::string>{"intl"});
}

// CLI11 parsing through the schema's flags, as `askr serve` does.
CommandLineValues parse_flags(std::vector<std::string> args) {
    CLI::App app;
    CommandLineFlags flags(app);
    std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
    app.parse(args);
    return flags.given();
}

TEST(ConfigCommandLine, FlagsAreTheSchemasFlags) {
    auto given = parse_flags({"--root", "/srv", "-l", "127.0.0.1:81", "--listen", "127.0.0.1:82",
                              "--tls-self-signed", "-d", "a=1", "--php-ini", "b=2", "--workers",
                              "3", "--max-body-size", "1G"});
    Config config = load({"", {}, given});
    EXPECT_EQ(config.options.root, "/srv");
    ASSERT_EQ(config.options.listen.size(), 2u);
    EXPECT_EQ(config.options.listen[1].port, 82);
    EXPECT_TRUE(config.options.tls_self_signed);
    EXPECT_EQ(config.options.php_ini, (KeyValues{{"a", "1"}, {"b", "2"}}));
    EXPECT_EQ(config.options.workers, 3u);
    EXPECT_EQ(config.options.max_body_size, 1ull << 30);
    EXPECT_EQ(config.where(*find_option("workers", "count")), "--workers 3");
}

TEST(ConfigListen, ProxyProtocolIsAnOptionAfterAComma) {
    auto address = parse_listen_address(":8080,proxy-protocol");
    EXPECT_EQ(address.host, "0.0.0.0");
    EXPECT_EQ(address.port, 8080);
    EXPECT_TRUE(address.proxy_protocol);
    EXPECT_EQ(address.text(), "0.0.0.0:8080,proxy-protocol");
    address = parse_listen_address("[::1]:81,proxy-protocol");
    EXPECT_EQ(address.host, "::1");
    EXPECT_TRUE(address.proxy_protocol);
    EXPECT_EQ(parse_listen_address(address.text()).text(), "[::1]:81,proxy-protocol");
    EXPECT_FALSE(parse_listen_address("127.0.0.1:80").proxy_protocol);
    for (const char* bad : {"127.0.0.1:80,", "127.0.0.1:80,proxy-protocol,",
                            "127.0.0.1:80,PROXY-PROTOCOL", "127.0.0.1:80, proxy-protocol"}) {
        try {
            parse_listen_address(bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("unknown listen option"), std::string::npos)
                << e.what();
            EXPECT_NE(std::string(e.what()).find("known: proxy-protocol"), std::string::npos) << e.what();
        }
    }
    // The address is checked as before the comma.
    EXPECT_THROW(parse_listen_address("127.0.0.1:99999,proxy-protocol"), ConfigError);
}

TEST(ConfigListen, ProxyProtocolFromFileFlagAndEnvironment) {
    Scratch scratch;
    const std::string path = scratch.write(
        "askr.toml", "[server]\nlisten = [\"127.0.0.1:81,proxy-protocol\", \"127.0.0.1:82\"]\n");
    Config from_file = load({path, {}, {}});
    ASSERT_EQ(from_file.options.listen.size(), 2u);
    EXPECT_TRUE(from_file.options.listen[0].proxy_protocol);
    EXPECT_FALSE(from_file.options.listen[1].proxy_protocol);
    Config from_flag = load({"", {}, parse_flags({"--listen", "[::1]:81,proxy-protocol"})});
    ASSERT_EQ(from_flag.options.listen.size(), 1u);
    EXPECT_TRUE(from_flag.options.listen[0].proxy_protocol);
    // The environment's list separator is a comma too: the option stays with its address.
    Config from_environment =
        load({"", {{"ASKR_SERVER_LISTEN", "127.0.0.1:81,proxy-protocol, [::1]:82"}}, {}});
    ASSERT_EQ(from_environment.options.listen.size(), 2u);
    EXPECT_EQ(from_environment.options.listen[0].text(), "127.0.0.1:81,proxy-protocol");
    EXPECT_EQ(from_environment.options.listen[1].text(), "[::1]:82");
    Config unix_socket =
        load({"", {{"ASKR_SERVER_LISTEN", "unix:/run/a.sock,mode=0666,proxy-protocol, :82"}}, {}});
    ASSERT_EQ(unix_socket.options.listen.size(), 2u);
    EXPECT_EQ(unix_socket.options.listen[0].unix_mode, 0666u);
    EXPECT_EQ(unix_socket.options.listen[0].text(), "unix:/run/a.sock,proxy-protocol");
}

TEST(ConfigCommandLine, ErrorsNameTheFlag) {
    const auto errors = errors_of(
        {"", {}, parse_flags({"--listen", "127.0.0.1:99999", "--workers", "0", "--symlinks", "x"})},
        false);
    ASSERT_EQ(errors.size(), 3u) << joined(errors);
    EXPECT_EQ(errors[0], "--listen 127.0.0.1:99999: the port must be a number from 0 to 65535");
    EXPECT_EQ(errors[1], "--symlinks x: expected one of follow or inside-root");
    EXPECT_EQ(errors[2], "--workers 0: expected an integer from 1 to 1024");
}

// --- precedence: flag > environment > file > default ------------------------------------

TEST(ConfigPrecedence, FlagBeatsEnvironmentBeatsFileBeatsDefault) {
    Scratch scratch;
    const std::string file = scratch.write(
        "askr.toml",
        "[server]\nindex = \"file.php\"\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n"
        "[workers]\ncount = 2\n[php.ini]\na = \"file\"\nb = \"file\"\n");
    const std::vector<std::pair<std::string, std::string>> env = {{"ASKR_SERVER_INDEX", "env.php"},
                                                                  {"ASKR_WORKERS_COUNT", "3"},
                                                                  {"ASKR_PHP_INI", "b=env;c=env"}};
    const auto cli = parse_flags({"--index", "cli.php", "--listen", "127.0.0.1:3", "-d", "c=cli"});

    EXPECT_EQ(load({"", {}, {}}).options.index, "index.php");  // default
    EXPECT_EQ(load({file, {}, {}}).options.index, "file.php");
    EXPECT_EQ(load({file, env, {}}).options.index, "env.php");
    Config all = load({file, env, cli});
    EXPECT_EQ(all.options.index, "cli.php");
    EXPECT_EQ(all.options.workers, 3u);        // environment over file where no flag is given
    ASSERT_EQ(all.options.listen.size(), 1u);  // a list from a higher source replaces
    EXPECT_EQ(all.options.listen[0].port, 3);
    // The ini table merges per setting.
    EXPECT_EQ(all.options.php_ini, (KeyValues{{"a", "file"}, {"b", "env"}, {"c", "cli"}}));
    EXPECT_EQ(all.where(*find_option("server", "index")), "--index cli.php");
    EXPECT_EQ(all.where(*find_option("workers", "count")), "environment ASKR_WORKERS_COUNT=3");
    EXPECT_EQ(load({file, {}, {}}).where(*find_option("workers", "count")),
              file + ":5: [workers] count = 2");
    EXPECT_EQ(all.where(*find_option("log", "level")), "[log] level (default)");
}

TEST(ConfigDefaults, AreTheDocumentedOnes) {
    Scratch scratch;
    Config config = load({"", {}, parse_flags({"--root", scratch.root()})});
    finalize(config);
    const ServeOptions& o = config.options;
    ASSERT_EQ(o.listen.size(), 1u);
    EXPECT_EQ(o.listen[0].text(), "127.0.0.1:8080");
    EXPECT_EQ(o.index, "index.php");
    EXPECT_EQ(o.max_body_size, 8ull << 20);
    EXPECT_EQ(o.header_timeout.count(), 15);
    EXPECT_EQ(o.keepalive_timeout.count(), 60);
    EXPECT_EQ(o.shutdown_timeout.count(), 30);
    EXPECT_EQ(o.tls_handshake_timeout.count(), 10);
    EXPECT_EQ(o.log_level, "info");
    EXPECT_EQ(o.max_requests, 0u);
    EXPECT_GE(o.workers, 1u);  // the number of cores
    EXPECT_FALSE(o.tls());
    ASSERT_TRUE(o.admin_listen.has_value());
    EXPECT_EQ(o.admin_listen->text(), "127.0.0.1:2019");
}

// --- the schema itself ----------------------------------------------------------------

TEST(ConfigSchema, EveryEntryRoundTripsThroughTheFile) {
    Scratch scratch;
    const ServeOptions defaults;
    for (const auto& option : schema()) {
        SCOPED_TRACE(option.name());
        EXPECT_FALSE(option.doc.empty());
        ASSERT_FALSE(option.example.empty());
        EXPECT_NE(std::string(option.example), option.bind.show(defaults))
            << "the example must not be the default";
        const std::string path = scratch.write(
            "askr.toml", "[" + std::string(option.section) + "]\n" + std::string(option.key) +
                             " = " + std::string(option.example) + "\n");
        Config config = load({path, {}, {}});
        EXPECT_EQ(option.bind.show(config.options), option.example);
        const std::string written =
            option.type == Type::table ? "{...}" : std::string(option.example);
        EXPECT_EQ(config.where(option), path + ":2: [" + std::string(option.section) + "] " +
                                            std::string(option.key) + " = " + written);
        // What show() prints reads back to the same value (a default in words is no value).
        if (!option.default_doc.empty()) continue;
        const std::string again = scratch.write(
            "again.toml", "[" + std::string(option.section) + "]\n" + std::string(option.key) +
                              " = " + option.bind.show(defaults) + "\n");
        EXPECT_EQ(option.bind.show(load({again, {}, {}}).options), option.bind.show(defaults));
    }
}

TEST(ConfigSchema, NamesAreUniqueAndWellFormed) {
    std::set<std::string> names, envs, flags;
    std::set<std::string_view> sections_seen;
    for (const auto& [section, about] : sections()) sections_seen.insert(section);
    for (const auto& option : schema()) {
        EXPECT_TRUE(names.insert(option.name()).second) << option.name();
        EXPECT_TRUE(envs.insert(option.env()).second) << option.env();
        if (!option.flag().empty()) {
            EXPECT_TRUE(flags.insert(option.flag()).second) << option.flag();
            EXPECT_EQ(option.flag().rfind("--", 0), 0u) << option.flag();
        }
        EXPECT_TRUE(sections_seen.count(option.section))
            << option.name() << ": section missing from sections()";
        // snake_case: lower-case letters, digits (http2_...) and underscores, a letter first.
        EXPECT_EQ(option.key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"),
                  std::string_view::npos)
            << option.name();
        EXPECT_TRUE(!option.key.empty() && option.key.front() >= 'a' && option.key.front() <= 'z')
            << option.name();
    }
    EXPECT_EQ(find_option("server", "listen")->env(), "ASKR_SERVER_LISTEN");
}

TEST(ConfigSchema, EveryServeFlagOfBeforeTheSchemaStillExists) {
    // The flags `askr serve` had before the config file (README): none may disappear.
    const char* flags[] = {"--root",
                           "--listen",
                           "--index",
                           "--max-body-size",
                           "--tls-cert",
                           "--tls-key",
                           "--tls-self-signed",
                           "--tls-self-signed-dir",
                           "--listen-http",
                           "--tls-handshake-timeout",
                           "--symlinks",
                           "--php-ini",
                           "--header-timeout",
                           "--keepalive-timeout",
                           "--body-timeout",
                           "--write-timeout",
                           "--shutdown-timeout",
                           "--workers",
                           "--max-requests",
                           "--user",
                           "--group",
                           "--control-socket",
                           "--worker",
                           "--frankenphp-compat",
                           "--log-level"};
    for (const char* flag : flags) {
        bool found = false;
        for (const auto& option : schema()) found = found || option.flag() == flag;
        EXPECT_TRUE(found) << flag;
    }
}

TEST(ConfigSchema, ClosestSuggestsOnlyLikelyTypos) {
    EXPECT_EQ(core::closest("lisen", {"listen", "root"}), "listen");
    EXPECT_EQ(core::closest("max_body", {"max_body_size", "index"}), "max_body_size");
    EXPECT_EQ(core::closest("zzzzzz", {"listen", "root"}), "");
}

TEST(ConfigDocs, CommittedFileMatchesTheSchema) {
    std::ifstream in(std::string(ASKR_SOURCE_DIR) + "/docs/configuration.md");
    std::ostringstream committed;
    committed << in.rdbuf();
    EXPECT_EQ(committed.str(), configuration_markdown())
        << "docs/configuration.md is out of date: cmake --build build --target config-docs";
    for (const auto& option : schema()) {
        EXPECT_NE(committed.str().find(option.env()), std::string::npos) << option.name();
    }
}

TEST(ListenAddresses, UnixSocketsAndTheirOptions) {
    const auto plain = parse_listen_address("unix:/run/askr/askr.sock");
    EXPECT_TRUE(plain.is_unix());
    EXPECT_EQ(plain.unix_path, "/run/askr/askr.sock");
    EXPECT_EQ(plain.unix_mode, 0660u);
    EXPECT_EQ(plain.text(), "unix:/run/askr/askr.sock");
    EXPECT_TRUE(is_loopback(plain));
    const auto open = parse_listen_address("unix:/run/askr.sock,mode=0666");
    EXPECT_EQ(open.unix_mode, 0666u);
    const auto tcp = parse_listen_address("[::1]:8080");
    EXPECT_FALSE(tcp.is_unix());
    EXPECT_EQ(tcp.text(), "[::1]:8080");
    // sun_path holds 107 bytes and the NUL.
    EXPECT_NO_THROW(parse_listen_address("unix:/" + std::string(106, 'a')));
    EXPECT_THROW(parse_listen_address("unix:/" + std::string(107, 'a')), ConfigError);
    EXPECT_THROW(parse_listen_address("unix:"), ConfigError);
    EXPECT_THROW(parse_listen_address("unix:/a.sock,mode="), ConfigError);
    EXPECT_THROW(parse_listen_address("unix:/a.sock,mode=0660x"), ConfigError);
}

}  // namespace
}  // namespace askr::config
